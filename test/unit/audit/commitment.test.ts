import { createHash, createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/audit/canonical.js";
import { BODY_VERSION, commitment } from "../../../src/audit/commitment.js";
import type { PreparedEvent } from "../../../src/audit/event.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import { systemClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

const WS = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";

/** The v1 form written by earlier releases, computed independently with createHmac. */
function v1(path: string, canonical: string, saltHex: string): string {
  return createHmac("sha256", Buffer.from(saltHex, "hex")).update(`tenancykit/audit/pii/v1\n${path}\n${canonical}`).digest("hex");
}

/** The v2 form, computed independently with createHash. */
function v2(path: string, canonical: string, saltHex: string): string {
  return createHash("sha256")
    .update("tenancykit/audit/pii/v2\n")
    .update(Buffer.from(saltHex, "hex"))
    .update(`${path}\n${canonical}`)
    .digest("hex");
}

const salt = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("hex"));

describe("personal-field commitments", () => {
  it("v2 is SHA-256 of tag, salt, path and canonical value; v1 is the HMAC form", () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue({ maxDepth: 2 }), salt, (path, value, s) => {
        const canonical = canonicalJson(value);
        if (canonical.isErr()) return;
        expect(commitment(2, path, value as never, s)).toBe(v2(path, canonical.value, s));
        expect(commitment(1, path, value as never, s)).toBe(v1(path, canonical.value, s));
        expect(commitment(2, path, value as never, s)).not.toBe(commitment(1, path, value as never, s));
      }),
      { numRuns: 300 },
    );
  });

  it("binds the value, the salt and the path; unknown versions and malformed v2 salts commit to nothing", () => {
    const s = "00112233445566778899aabbccddeeff";
    const c = commitment(2, "context.ip", "203.0.113.10", s);
    expect(commitment(2, "context.ip", "203.0.113.11", s)).not.toBe(c);
    expect(commitment(2, "context.ip", "203.0.113.10", "10112233445566778899aabbccddeeff")).not.toBe(c);
    expect(commitment(2, "actor.display", "203.0.113.10", s)).not.toBe(c);
    expect(commitment(3, "context.ip", "203.0.113.10", s)).toBeUndefined();
    expect(commitment(undefined, "context.ip", "203.0.113.10", s)).toBeUndefined();
    expect(commitment(2, "context.ip", "203.0.113.10", "0011")).toBeUndefined();
    expect(commitment(2, "context.ip", "203.0.113.10", s.toUpperCase())).toBeUndefined();
  });

  it("new events are written as the current body version with v2 commitments", () => {
    const prepared = prepareEvent(
      { workspaceId: WS, actor: { type: "member", id: "m1", display: "a@example.com" }, action: "journey.updated", context: { ip: "203.0.113.10" } },
      DEFAULT_LIMITS,
      systemClock,
      seededRandom(3),
    )._unsafeUnwrap();
    const body = JSON.parse(prepared.body) as { v: number; commitments: Record<string, string> };
    expect(body.v).toBe(BODY_VERSION);
    expect(BODY_VERSION).toBe(2);
    for (const [path, stored] of Object.entries(prepared.personal ?? {})) {
      expect(body.commitments[path]).toBe(v2(path, JSON.stringify(stored.value), stored.salt));
    }
  });

  it("a chain whose older entries carry v1 commitments still verifies, and a tampered v1 value is named", async () => {
    const store = new MemoryAuditStore();
    const s = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    // An entry exactly as the previous release prepared it: body v1, HMAC commitment.
    const legacy: PreparedEvent = {
      workspaceId: WS,
      idempotencyKey: null,
      body:
        `{"action":"journey.updated","actor":{"id":"m1","type":"member"},"commitments":{"context.ip":"${v1("context.ip", '"203.0.113.10"', s)}"},` +
        `"context":{},"metadata":{},"occurredAt":"2026-01-01T00:00:00.000Z","outcome":{"status":"success"},"targets":[],"v":1}`,
      personal: { "context.ip": { value: "203.0.113.10", salt: s } },
      index: { actorType: "member", actorId: "m1", action: "journey.updated", outcome: "success", occurredAtMs: Date.parse("2026-01-01"), targets: [] },
    };
    (await store.appendBatch([legacy, legacy].map((e, i) => (i === 0 ? e : { ...e })), Date.now()))._unsafeUnwrap();
    const audit = new AuditLogger({ store });
    (await audit.append({ workspaceId: WS, actor: { type: "member", id: "m1" }, action: "journey.updated", context: { ip: "198.51.100.7" } }))._unsafeUnwrap();
    const report = (await audit.verify({ workspaceId: WS }))._unsafeUnwrap();
    expect(report).toMatchObject({ ok: true, entries: 3 });

    const tampered = new MemoryAuditStore();
    const forged: PreparedEvent = { ...legacy, personal: { "context.ip": { value: "203.0.113.99", salt: s } } };
    (await tampered.appendBatch([legacy, forged], Date.now()))._unsafeUnwrap();
    const bad = (await new AuditLogger({ store: tampered }).verify({ workspaceId: WS }))._unsafeUnwrap();
    expect(bad).toMatchObject({ ok: false, damage: { kind: "modified", seq: 2 } });
    await audit.close();
  });
});
