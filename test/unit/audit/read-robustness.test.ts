import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { StoredEntry } from "../../../src/audit/event.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import { verifyExport } from "../../../src/audit/verify-export.js";

const actor = { type: "member", id: "m1" };
const signer = signerFromSeed(new Uint8Array(32).fill(31));

async function logged(n: number) {
  const store = new MemoryAuditStore();
  const audit = new AuditLogger({ store, signer, batch: { lingerMs: 0 } });
  const workspaceId = randomUUID();
  for (let i = 0; i < n; i++) {
    (await audit.append({ workspaceId, actor: { ...actor, display: "a@example.com" }, action: "journey.updated", targets: [{ type: "journey", id: `j${i}` }] }))._unsafeUnwrap();
  }
  return { audit, store, workspaceId, rows: store.rowsForTesting(workspaceId) };
}

describe("query and export on rows someone edited: Ok with the row flagged, never an exception", () => {
  for (const [what, edit] of [
    ["a body that is not JSON", (r: StoredEntry): StoredEntry => ({ ...r, body: "not json" })],
    ["a body that is JSON of another shape", (r: StoredEntry): StoredEntry => ({ ...r, body: '{"commitments":null,"targets":"x"}' })],
    ["a body that is a JSON array", (r: StoredEntry): StoredEntry => ({ ...r, body: "[]" })],
    ["a personal column holding null values", (r: StoredEntry): StoredEntry => ({ ...r, personal: { "actor.display": null } as never })],
  ] as const) {
    it(what, async () => {
      const { audit, workspaceId, rows } = await logged(3);
      rows[1] = edit(rows[1] as StoredEntry);
      const page = (await audit.query({ workspaceId, order: "asc" }))._unsafeUnwrap();
      expect(page.entries.map((e) => [e.seq, e.corrupt !== undefined])).toEqual([[1, false], [2, true], [3, false]]);
      expect(page.entries[1]).toMatchObject({ seq: 2, action: "journey.updated", actor: { type: "member", id: "m1" }, targets: [] });
      // The flagged row is kept by a target filter its column matches: hiding it would hide the damage.
      expect((await audit.query({ workspaceId, target: { type: "journey", id: "j1" } }))._unsafeUnwrap().entries.map((e) => e.seq)).toEqual([2]);
      for (const format of ["ndjson", "csv"] as const) {
        let text = "";
        const manifest = (await audit.exportLog({ workspaceId, format, write: (c) => void (text += c) }))._unsafeUnwrap();
        expect(manifest.count).toBe(3);
        expect(manifest.statement).toBeNull();
        expect(manifest.rangeUnsigned).toMatch(/verify found damage \(modified at seq 2/);
        expect(verifyExport(text, manifest, { publicKeys: audit.publicKeys, workspaceId })).toMatchObject({ ok: false, problem: { seq: 2 } });
      }
      expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 2 });
      await audit.close();
    });
  }
});

describe("exportLog input", () => {
  it("a write that throws or rejects is ExportWriteFailed; a missing write, a bad format or range is InvalidInput", async () => {
    const { audit, workspaceId } = await logged(2);
    const thrown = await audit.exportLog({ workspaceId, format: "ndjson", write: () => { throw new Error("disk full"); } });
    expect(thrown._unsafeUnwrapErr()).toMatchObject({ type: "ExportWriteFailed", workspaceId, message: expect.stringContaining("disk full") });
    const rejected = await audit.exportLog({ workspaceId, format: "csv", write: async () => Promise.reject(new Error("socket closed")) });
    expect(rejected._unsafeUnwrapErr().type).toBe("ExportWriteFailed");
    for (const bad of [
      { write: undefined },
      { write: "stdout" },
      { from: Number.NaN },
      { to: Number.NaN },
      { from: 0 },
      { from: 1.5 },
      { to: -1 },
      { from: "1" },
      { to: Number.POSITIVE_INFINITY },
    ]) {
      let written = "";
      const result = await audit.exportLog({ workspaceId, format: "ndjson", write: (c: string) => void (written += c), ...bad } as never);
      expect(result._unsafeUnwrapErr().type, JSON.stringify(bad)).toBe("InvalidInput");
      expect(written, "nothing is written for bad input").toBe("");
    }
    await audit.close();
  });
});

describe("a personal key named __proto__", () => {
  it("is kept as an own property on read (it was committed, then dropped as a prototype)", async () => {
    const audit = new AuditLogger({ signer, batch: { lingerMs: 0 } });
    const workspaceId = randomUUID();
    const personal = JSON.parse('{"__proto__":{"polluted":true},"email":"a@example.com"}') as Record<string, never>;
    (await audit.append({ workspaceId, actor, action: "journey.updated", personal }))._unsafeUnwrap();
    const [entry] = (await audit.query({ workspaceId }))._unsafeUnwrap().entries;
    const read = entry?.personal as Record<string, unknown>;
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    expect(Object.keys(read).sort()).toEqual(["__proto__", "email"]);
    expect(Object.getOwnPropertyDescriptor(read, "__proto__")?.value).toEqual({ polluted: true });
    expect((read as { polluted?: unknown }).polluted).toBeUndefined();
    let text = "";
    const manifest = (await audit.exportLog({ workspaceId, format: "ndjson", write: (c) => void (text += c) }))._unsafeUnwrap();
    expect(text).toContain('"personal":{"__proto__":{"polluted":true},"email":"a@example.com"}');
    expect(verifyExport(text, manifest, { publicKeys: audit.publicKeys, workspaceId }).ok).toBe(true);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().ok).toBe(true);
    await audit.close();
  });
});

describe("pino mirror", () => {
  it("logs the validated event: fields the log drops (context.email, actor.email) never reach pino", async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const audit = new AuditLogger({ mirror: { logger: pino({ level: "info" }, stream), redact: ["metadata.token"] }, batch: { lingerMs: 0 } });
    const workspaceId = randomUUID();
    const event = {
      workspaceId,
      actor: { type: "member", id: "m1", display: "shown@example.com", email: "actor-leak@example.com" },
      action: "journey.updated",
      targets: [{ type: "journey", id: "j1", owner: "target-leak@example.com" }],
      context: { requestId: "req-1", ip: "203.0.113.9", email: "context-leak@example.com" },
      metadata: { token: "secret-token", route: "/journeys" },
      personal: { phone: "+1 555 0100" },
      extra: "top-level-leak@example.com",
    };
    const receipt = (await audit.append(event as never))._unsafeUnwrap();
    await new Promise((r) => setImmediate(r));
    expect(lines.length).toBe(1);
    const text = lines[0] as string;
    for (const leak of ["actor-leak", "target-leak", "context-leak", "top-level-leak", "shown@example.com", "203.0.113.9", "555 0100", "secret-token"]) {
      expect(text).not.toContain(leak);
    }
    expect(JSON.parse(text)).toMatchObject({
      workspaceId,
      audit: {
        seq: receipt.seq,
        hash: receipt.hash,
        action: "journey.updated",
        actor: { type: "member", id: "m1", display: "[REDACTED]" },
        targets: [{ type: "journey", id: "j1" }],
        context: { requestId: "req-1", ip: "[REDACTED]" },
        metadata: { token: "[REDACTED]", route: "/journeys" },
        personal: "[REDACTED]",
      },
    });
    expect(event.context.email).toBe("context-leak@example.com"); // the caller's event is untouched
    await audit.close();
  });
});

describe("a recorded-at no entry hash can encode (an edited row: Infinity, NaN, beyond 2^53)", () => {
  for (const value of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e300, 2 ** 60]) {
    it(`${value}: verify and a signed export name the entry as modified (entryHash threw a RangeError through both)`, async () => {
      const { audit, workspaceId, rows } = await logged(8);
      rows[5] = { ...(rows[5] as StoredEntry), recordedAtMs: value };
      expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 6 });
      // As the row before a range, read for its hash only.
      expect((await audit.verify({ workspaceId, from: 7 }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 6 });
      let text = "";
      const manifest = (await audit.exportLog({ workspaceId, format: "ndjson", write: (c) => void (text += c) }))._unsafeUnwrap();
      expect(manifest).toMatchObject({ count: 8, statement: null, rangeUnsigned: expect.stringMatching(/modified at seq 6/) });
      expect(verifyExport(text, manifest, { publicKeys: audit.publicKeys, workspaceId }).ok).toBe(false);
      await audit.close();
    });
  }
});

describe("a store that returns personal: undefined (a custom store omitting the column)", () => {
  it("exports NDJSON and CSV that verify, with openings null (CSV threw a TypeError; NDJSON dropped openings)", async () => {
    const { audit, workspaceId, rows } = await logged(3);
    for (const [i, row] of rows.entries()) rows[i] = { ...row, personal: undefined as never };
    for (const format of ["ndjson", "csv"] as const) {
      let text = "";
      const manifest = (await audit.exportLog({ workspaceId, format, write: (c) => void (text += c) }))._unsafeUnwrap();
      expect(verifyExport(text, manifest, { publicKeys: audit.publicKeys, workspaceId }), format).toMatchObject({ ok: true, entries: 3 });
      if (format === "ndjson") expect(JSON.parse(text.split("\n")[0] as string)).toMatchObject({ openings: null, erased: true });
    }
    await audit.close();
  });
});
