import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { err, type Result } from "neverthrow";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { auditLoggerFromEnv, createAuditLogger } from "../../../src/audit/create.js";
import type { PreparedEvent } from "../../../src/audit/event.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { parseSigningKey, signerFromSeed, verifySignature } from "../../../src/audit/signing.js";
import { checkpointMessage } from "../../../src/audit/records.js";
import type { BatchOutcome } from "../../../src/audit/store.js";
import type { SqlError } from "../../../src/core/postgres/result.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";

const actor = { type: "member", id: "m1" };

describe("event validation: typed errors, nothing written", () => {
  it("lists every problem of a bad event at once and stores nothing", async () => {
    const store = new MemoryAuditStore();
    const audit = createAuditLogger({ store });
    const workspaceId = randomUUID();
    const cases: [unknown, string][] = [
      [{ workspaceId, action: "journey.updated" }, "InvalidAuditEvent"],
      [{ workspaceId, actor }, "InvalidAuditEvent"],
      [{ workspaceId, actor: { type: "member" }, action: "Journey Updated" }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", outcome: { status: "maybe" } }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", occurredAt: "not a date" }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", targets: [{ type: "journey" }] }, "InvalidAuditEvent"],
      [{ workspaceId, actor: { type: "member", id: "\ud800" }, action: "journey.updated" }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", context: { requestId: "x\udc00" } }, "InvalidAuditEvent"],
      // Postgres text and jsonb cannot hold U+0000: refused up front, not by failing the whole batch.
      [{ workspaceId, actor: { type: "member", id: "a\u0000b" }, action: "journey.updated" }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", targets: [{ type: "journey", id: "\u0000" }] }, "InvalidAuditEvent"],
      [{ workspaceId, actor, action: "journey.updated", personal: { note: ["a\u0000"] } }, "NotSerializable"],
      [{ workspaceId, actor, action: "journey.updated", metadata: { n: Number.NaN } }, "NotSerializable"],
      [{ workspaceId, actor, action: "journey.updated", metadata: { at: new Date() } }, "NotSerializable"],
      [{ workspaceId, actor, action: "journey.updated", metadata: { blob: "x".repeat(20_000) } }, "AuditEventTooLarge"],
      [{ workspaceId, actor, action: "journey.updated", personal: { blob: "x".repeat(20_000) } }, "AuditEventTooLarge"],
      [{ workspaceId: "workspace-1", actor, action: "journey.updated" }, "InvalidWorkspaceId"],
      [{ workspaceId: 42, actor, action: "journey.updated" }, "InvalidWorkspaceId"],
      [null, "InvalidAuditEvent"],
    ];
    for (const [input, type] of cases) {
      const result = await audit.append(input as never);
      expect(result._unsafeUnwrapErr().type, JSON.stringify(input)?.slice(0, 80)).toBe(type);
    }
    const missingBoth = await audit.append({ workspaceId } as never);
    expect(missingBoth._unsafeUnwrapErr()).toMatchObject({ type: "InvalidAuditEvent", workspaceId });
    expect((missingBoth._unsafeUnwrapErr() as unknown as { problems: string[] }).problems.length).toBe(2);
    expect(await store.head(workspaceId)).toMatchObject({ value: undefined });
    await audit.close();
  });

  it("honours a configured metadata limit", async () => {
    const audit = createAuditLogger({ limits: { maxMetadataBytes: 64 } });
    const workspaceId = randomUUID();
    expect((await audit.append({ workspaceId, actor, action: "a.b", metadata: { s: "x".repeat(40) } })).isOk()).toBe(true);
    expect((await audit.append({ workspaceId, actor, action: "a.b", metadata: { s: "x".repeat(70) } }))._unsafeUnwrapErr().type).toBe("AuditEventTooLarge");
    await audit.close();
  });

  it("rejects invalid options with one TypeError listing every problem", () => {
    expect(() => createAuditLogger({ batch: { maxRows: 0, lingerMs: -1 }, checkpoints: { everyEvents: 1.5 } })).toThrow(
      /batch.maxRows.*batch.lingerMs.*checkpoints.everyEvents/,
    );
  });
});

describe("AuditLogger behaviour", () => {
  it("fails every event of a batch the store rejects, and writes none of them", async () => {
    const failing = new MemoryAuditStore();
    const failure: SqlError = { type: "StoreUnavailable", message: "down", retryable: true };
    failing.appendBatch = async (): Promise<Result<BatchOutcome[], SqlError>> => err(failure);
    const audit = createAuditLogger({ store: failing });
    const workspaceId = randomUUID();
    const results = await Promise.all([1, 2, 3].map(() => audit.append({ workspaceId, actor, action: "a.b" })));
    for (const r of results) expect(r._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true, workspaceId });
    expect((await failing.readEntries(workspaceId, undefined, 100, 100))._unsafeUnwrap()).toEqual([]);
  });

  it("groups concurrent appends into batches of at most maxRows", async () => {
    const store = new MemoryAuditStore();
    const sizes: number[] = [];
    const original = store.appendBatch.bind(store);
    store.appendBatch = (events: readonly PreparedEvent[], now: number) => {
      sizes.push(events.length);
      return original(events, now);
    };
    const audit = createAuditLogger({ store, batch: { maxRows: 50, lingerMs: 5 } });
    const workspaceId = randomUUID();
    await Promise.all(Array.from({ length: 230 }, () => audit.append({ workspaceId, actor, action: "a.b" })));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(230);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
    expect(sizes.length).toBeLessThanOrEqual(10);
    await audit.close();
  });

  it("refuses appends after close, and the bound handle fills in the workspace", async () => {
    const audit = createAuditLogger();
    const id = parseWorkspaceId(randomUUID())._unsafeUnwrap();
    const bound = audit.workspace(id);
    expect((await bound.append({ actor, action: "a.b" }))._unsafeUnwrap()).toMatchObject({ workspaceId: id, seq: 1 });
    await audit.close();
    expect((await bound.append({ actor, action: "a.b" }))._unsafeUnwrapErr().type).toBe("AuditLoggerClosed");
  });

  it("needs a signing key for checkpoints and pruning", async () => {
    const audit = createAuditLogger();
    expect((await audit.checkpoint({ workspaceId: randomUUID() }))._unsafeUnwrapErr().type).toBe("SigningKeyMissing");
    expect((await audit.prune({ before: Date.now() }))._unsafeUnwrapErr().type).toBe("SigningKeyMissing");
  });
});

describe("signing key from TENANCY_AUDIT_SIGNING_KEY", () => {
  it("accepts a base64 32-byte seed and signs verifiable checkpoints", async () => {
    const seed = randomBytes(32);
    const signer = parseSigningKey(seed.toString("base64"))._unsafeUnwrap();
    expect(signer.keyId).toBe(signerFromSeed(seed).keyId);
    const url = parseSigningKey(seed.toString("base64url"))._unsafeUnwrap();
    expect(url.publicKey).toBe(signer.publicKey);
    const anchored: string[] = [];
    const audit = auditLoggerFromEnv({ TENANCY_AUDIT_SIGNING_KEY: seed.toString("base64") }, {
      onCheckpoint: (c) => anchored.push(c.signature),
    })._unsafeUnwrap();
    const workspaceId = randomUUID();
    await audit.append({ workspaceId, actor, action: "a.b" });
    const checkpoint = (await audit.checkpoint({ workspaceId }))._unsafeUnwrap();
    if (checkpoint === undefined) throw new Error("no checkpoint");
    expect(anchored).toEqual([checkpoint.signature]);
    expect(verifySignature(checkpointMessage(checkpoint), checkpoint.signature, signer.publicKey)).toBe(true);
    expect(verifySignature(checkpointMessage({ ...checkpoint, seq: 2 }), checkpoint.signature, signer.publicKey)).toBe(false);
    await audit.close();
  });

  it("signs a checkpoint after T milliseconds even when fewer than N events arrived", async () => {
    const { ManualClock } = await import("../../../src/core/clock.js");
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const audit = createAuditLogger({ clock, signer: signerFromSeed(randomBytes(32)), checkpoints: { everyEvents: 1_000, everyMs: 60_000 } });
    const workspaceId = randomUUID();
    (await audit.append({ workspaceId, actor, action: "a.b" }))._unsafeUnwrap();
    clock.advance(59_000);
    (await audit.append({ workspaceId, actor, action: "a.b" }))._unsafeUnwrap();
    await audit.flush();
    expect((await audit.checkpoints({ workspaceId }))._unsafeUnwrap()).toEqual([]);
    clock.advance(2_000);
    (await audit.append({ workspaceId, actor, action: "a.b" }))._unsafeUnwrap();
    await audit.checkpoints({ workspaceId }); // let the save settle
    await new Promise((r) => setImmediate(r));
    expect((await audit.checkpoints({ workspaceId }))._unsafeUnwrap().map((c) => c.seq)).toEqual([3]);
    await audit.close();
  });

  it("rejects malformed keys with a typed error that does not echo the key", () => {
    for (const bad of ["", "not base64!", Buffer.alloc(16).toString("base64"), Buffer.alloc(64).toString("base64")]) {
      const result = auditLoggerFromEnv({ TENANCY_AUDIT_SIGNING_KEY: bad });
      if (bad === "") expect(result.isOk()).toBe(true); // unset: no checkpoints
      else {
        expect(result._unsafeUnwrapErr().type).toBe("InvalidSigningKey");
        expect(result._unsafeUnwrapErr().message).not.toContain(bad);
      }
    }
  });
});

describe("pino mirror", () => {
  it("logs committed events with PII and configured paths redacted, never mutating the event", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const logger = pino({ level: "info" }, stream);
    const audit = createAuditLogger({ mirror: { logger, redact: ["metadata.apiKey"] } });
    const workspaceId = randomUUID();
    const event = {
      workspaceId,
      actor: { type: "admin_api_key", id: "key-1", display: "ops@example.com" },
      action: "admin_api_key.used",
      context: { ip: "203.0.113.5", userAgent: "curl/8", requestId: "req-1" },
      metadata: { apiKey: "df_live_secret", route: "/api/admin/journeys" },
      personal: { email: "ops@example.com" },
    };
    (await audit.append(event))._unsafeUnwrap();
    await new Promise((r) => setImmediate(r));
    expect(lines.length).toBe(1);
    const logged = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    const text = lines[0] ?? "";
    for (const secret of ["df_live_secret", "ops@example.com", "203.0.113.5", "curl/8"]) expect(text).not.toContain(secret);
    expect(logged).toMatchObject({ workspaceId, msg: "audit event", audit: { seq: 1, action: "admin_api_key.used", metadata: { route: "/api/admin/journeys" } } });
    expect(event.metadata.apiKey).toBe("df_live_secret");
    await audit.close();
  });
});
