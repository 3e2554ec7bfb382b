import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { entryHash } from "../../../src/audit/chain.js";
import type { StoredEntry } from "../../../src/audit/event.js";
import type { ExportManifest } from "../../../src/audit/export.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { checkpointValid } from "../../../src/audit/records.js";
import { signerFromSeed, type AuditSigner } from "../../../src/audit/signing.js";
import type { AuditStore } from "../../../src/audit/store.js";
import { verifyExport } from "../../../src/audit/verify-export.js";
import { ManualClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

/** Forgeries of an export that the review found passing verifyExport, and the export signing a rewritten tail. */
const signer = signerFromSeed(new Uint8Array(32).fill(61));
const keys = { [signer.keyId]: signer.publicKey };

function logger(store: AuditStore, options: { signer?: AuditSigner; publicKeys?: Record<string, string>; clock?: ManualClock } = {}) {
  const clock = options.clock ?? new ManualClock(Date.UTC(2026, 5, 1));
  return new AuditLogger({
    store,
    clock,
    random: seededRandom(9),
    batch: { lingerMs: 0 },
    signer: options.signer ?? signer,
    ...(options.publicKeys ? { publicKeys: options.publicKeys } : {}),
  });
}

async function append(audit: AuditLogger, workspaceId: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    (await audit.append({ workspaceId, actor: { type: "member", id: `m${i}`, display: `u${i}@example.com` }, action: "journey.updated" }))._unsafeUnwrap();
  }
}

async function exported(audit: AuditLogger, workspaceId: string, range: { from?: number; to?: number } = {}, format: "ndjson" | "csv" = "ndjson") {
  let text = "";
  const manifest = (await audit.exportLog({ workspaceId, format, ...range, write: (c) => void (text += c) }))._unsafeUnwrap();
  return { text, manifest };
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("the last entry rewritten with a recomputed hash, the head row left alone", () => {
  it("verify names it modified, and the export does not sign it (it signed the forged body)", async () => {
    const store = new MemoryAuditStore();
    const audit = logger(store);
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 6); // default checkpoints: none stored yet
    const rows = store.rowsForTesting(workspaceId);
    const row = rows[5] as StoredEntry;
    const body = row.body.replace('"action":"journey.updated"', '"action":"journey.deleted"');
    expect(body).not.toBe(row.body);
    rows[5] = { ...row, body, hash: entryHash(workspaceId, 6, row.recordedAtMs, row.prevHash, body), index: { ...row.index, action: "journey.deleted" } };
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 6 });
    const { text, manifest } = await exported(audit, workspaceId);
    expect(manifest.statement).toBeNull();
    expect(manifest.rangeUnsigned).toMatch(/modified at seq 6/);
    expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId })).toMatchObject({ ok: false, state: "unsigned" });
    await audit.close();
  });
});

describe("the export's signature is its own statement", () => {
  it("is never a valid checkpoint, and covers exportedAt, the requested range and the head seq", async () => {
    const audit = logger(new MemoryAuditStore());
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 6);
    const { text, manifest } = await exported(audit, workspaceId, { from: 2, to: 5 });
    const statement = manifest.statement as NonNullable<ExportManifest["statement"]>;
    expect(statement).toMatchObject({ workspaceId, requestedFrom: 2, requestedTo: 5, fromSeq: 2, toSeq: 5, headSeq: 6, exportedAt: manifest.exportedAt, keyId: signer.keyId });
    const asCheckpoint = { workspaceId, seq: 5, headHash: manifest.headHash as string, signedAt: manifest.exportedAt, keyId: signer.keyId, signature: statement.signature };
    expect(checkpointValid(asCheckpoint, keys), "an export signature must not pass as a checkpoint the appender signed").toBe(false);
    const expected = { publicKeys: keys, workspaceId, from: 2, to: 5 };
    expect(verifyExport(text, manifest, expected)).toEqual({ ok: true, state: "verified", problem: null, entries: 4, signedBy: signer.keyId });
    expect(verifyExport(text, { ...manifest, exportedAt: "2020-01-01T00:00:00.000Z" }, expected)).toMatchObject({ ok: false, state: "invalid" });
    expect(verifyExport(text, { ...manifest, headSeq: 5 }, expected)).toMatchObject({ ok: false, state: "invalid" });
    await audit.close();
  });
});

describe("verifyExport checks the export answers the request it was given", () => {
  it("a shortened export (records 1-3, a stored checkpoint at 3 as its pin, manifest fixed up) fails", async () => {
    const audit = logger(new MemoryAuditStore());
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 3);
    (await audit.checkpoint({ workspaceId }))._unsafeUnwrap(); // stored at seq 3
    await append(audit, workspaceId, 3);
    const { text, manifest } = await exported(audit, workspaceId);
    const expected = { publicKeys: keys, workspaceId };
    expect(verifyExport(text, manifest, expected)).toMatchObject({ ok: true, entries: 6 });
    const stored = manifest.checkpoints.find((c) => c.seq === 3);
    expect(stored).toBeDefined();
    const short = `${text.split("\n").slice(0, 3).join("\n")}\n`;
    const third = JSON.parse(short.split("\n")[2] as string) as { hash: string };
    const fixed = { ...manifest, toSeq: 3, count: 3, headHash: third.hash, sha256: sha(short), checkpoints: [stored] };
    // The forgery the review found (a stored checkpoint as the range's pin), and the genuine statement kept:
    for (const forged of [{ ...fixed, rangeCheckpoint: stored, statement: stored }, fixed]) {
      expect(verifyExport(short, forged as never, expected)).toMatchObject({ ok: false, state: "invalid" });
    }
    // Unsigned, it ends before the head the manifest says the export saw; with that edited too, nothing
    // signed contradicts it, and it is only unsigned, never ok.
    expect(verifyExport(short, { ...fixed, statement: null } as never, expected)).toMatchObject({ state: "invalid", problem: { message: expect.stringMatching(/ends at 3/) } });
    expect(verifyExport(short, { ...fixed, headSeq: 3, statement: null } as never, expected)).toMatchObject({ ok: false, state: "unsigned" });
    await audit.close();
  });

  it("an empty export without a signature is unsigned, not ok; a signed empty range verifies", async () => {
    const audit = logger(new MemoryAuditStore());
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 6);
    const { manifest } = await exported(audit, workspaceId);
    const empty = { ...manifest, fromSeq: 1, toSeq: 0, count: 0, prevHash: null, headHash: null, sha256: sha(""), checkpoints: [], rangeCheckpoint: null, statement: null };
    expect(verifyExport("", empty as never, { publicKeys: keys, workspaceId })).toMatchObject({ ok: false, state: "unsigned", signedBy: null });
    // The genuine statement of the full export does not fit an emptied text.
    expect(verifyExport("", { ...empty, statement: manifest.statement } as never, { publicKeys: keys, workspaceId }).ok).toBe(false);
    const past = await exported(audit, workspaceId, { from: 50 });
    expect(past.manifest).toMatchObject({ count: 0, statement: { requestedFrom: 50, count: 0, headSeq: 6 } });
    expect(verifyExport(past.text, past.manifest, { publicKeys: keys, workspaceId, from: 50 })).toEqual({ ok: true, state: "verified", problem: null, entries: 0, signedBy: signer.keyId });
    await audit.close();
  });

  it("another workspace's genuine export, or another range's, fails against the expected request", async () => {
    const audit = logger(new MemoryAuditStore());
    const [mine, theirs] = [randomUUID(), randomUUID()];
    await append(audit, mine, 3);
    await append(audit, theirs, 3);
    for (const format of ["ndjson", "csv"] as const) {
      const { text, manifest } = await exported(audit, theirs, {}, format);
      expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId: theirs }).ok).toBe(true);
      expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId: mine })).toMatchObject({ ok: false, state: "invalid" });
      expect(verifyExport(text, { ...manifest, workspaceId: mine }, { publicKeys: keys, workspaceId: mine })).toMatchObject({ ok: false, state: "invalid" });
      expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId: theirs.toUpperCase() }).ok, "ids compare normalised").toBe(true);
      const ranged = await exported(audit, theirs, { from: 2, to: 3 }, format);
      expect(verifyExport(ranged.text, ranged.manifest, { publicKeys: keys, workspaceId: theirs, from: 2, to: 3 }).ok).toBe(true);
      for (const request of [{}, { from: 2 }, { to: 3 }, { from: 1, to: 3 }]) {
        expect(verifyExport(ranged.text, ranged.manifest, { publicKeys: keys, workspaceId: theirs, ...request }).state, JSON.stringify(request)).toBe("invalid");
      }
    }
    expect(verifyExport("", {} as never, { publicKeys: keys, workspaceId: "not-a-uuid" })).toMatchObject({ ok: false, state: "invalid" });
    await audit.close();
  });
});

describe("rows missing at either end of the requested range, behind a valid checkpoint", () => {
  it("entries deleted before the range's first row are not signed (a stored checkpoint after them was taken as enough)", async () => {
    const store = new MemoryAuditStore();
    const audit = logger(store);
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 6);
    (await audit.checkpoint({ workspaceId }))._unsafeUnwrap(); // at seq 6, the range's end
    store.rowsForTesting(workspaceId).splice(0, 2);
    const { text, manifest } = await exported(audit, workspaceId);
    expect(manifest).toMatchObject({ fromSeq: 3, toSeq: 6, statement: null, rangeUnsigned: expect.stringMatching(/deleted at seq 1/) });
    expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId }).state).toBe("unsigned");
    await audit.close();
  });

  it("entries deleted after a stored checkpoint, up to the head, are not signed, and a manifest ending short is invalid", async () => {
    const store = new MemoryAuditStore();
    const audit = logger(store);
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 4);
    (await audit.checkpoint({ workspaceId }))._unsafeUnwrap(); // at seq 4
    await append(audit, workspaceId, 2);
    store.rowsForTesting(workspaceId).splice(4);
    const { text, manifest } = await exported(audit, workspaceId);
    expect(manifest).toMatchObject({ toSeq: 4, headSeq: 6, statement: null, rangeUnsigned: expect.stringMatching(/head was at 6/) });
    expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId })).toMatchObject({ state: "invalid", problem: { message: expect.stringMatching(/ends at 4/) } });
    await audit.close();
  });
});

describe("a pruned log", () => {
  it("an export starting after the prune, or empty because of it, is signed and verifies", async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 10));
    const audit = logger(new MemoryAuditStore(), { clock });
    const workspaceId = randomUUID();
    await append(audit, workspaceId, 3);
    clock.advance(30 * 86_400_000); // July
    await append(audit, workspaceId, 3);
    expect((await audit.prune({ before: Date.UTC(2026, 6, 1) }))._unsafeUnwrap()).toMatchObject([{ throughSeq: 3 }]);
    const all = await exported(audit, workspaceId);
    expect(all.manifest).toMatchObject({ fromSeq: 4, toSeq: 6, requestedFrom: 1, statement: { fromSeq: 4 } });
    expect(verifyExport(all.text, all.manifest, { publicKeys: keys, workspaceId }).state).toBe("verified");
    const gone = await exported(audit, workspaceId, { to: 2 });
    expect(gone.manifest).toMatchObject({ count: 0, statement: { requestedTo: 2 } });
    expect(verifyExport(gone.text, gone.manifest, { publicKeys: keys, workspaceId, to: 2 }).state).toBe("verified");
    await audit.close();
  });
});

describe("no checkpoint in the stretch verifies under the configured keys (a key rotated out and not listed)", () => {
  it("the export is unsigned at once, naming the checkpoint, without verifying the log; listing the old key signs it", async () => {
    const store = new MemoryAuditStore();
    const old = signerFromSeed(new Uint8Array(32).fill(62));
    const workspaceId = randomUUID();
    const before = logger(store, { signer: old });
    await append(before, workspaceId, 40);
    (await before.checkpoint({ workspaceId }))._unsafeUnwrap();
    await before.close();
    let rowsRead = 0;
    const counting: AuditStore = {
      kind: store.kind,
      appendBatch: (events, nowMs) => store.appendBatch(events, nowMs),
      head: (id) => store.head(id),
      readEntries: async (id, after, toSeq, limit) => {
        const page = await store.readEntries(id, after, toSeq, limit);
        if (page.isOk()) rowsRead += page.value.length;
        return page;
      },
      query: (q) => store.query(q),
      saveCheckpoint: (c) => store.saveCheckpoint(c),
      checkpoints: (id) => store.checkpoints(id),
      prunes: (id) => store.prunes(id),
      erase: (id, match) => store.erase(id, match),
      prune: (beforeMs, sign) => store.prune(beforeMs, sign),
    };
    const rotated = logger(counting);
    await append(rotated, workspaceId, 10);
    const { text, manifest } = await exported(rotated, workspaceId, { to: 5 });
    expect(manifest.statement).toBeNull();
    expect(manifest.rangeUnsigned).toMatch(/checkpoint at seq 40 .*publicKeys/);
    expect(rowsRead, "only the 5 exported rows were read").toBe(5);
    expect(verifyExport(text, manifest, { publicKeys: keys, workspaceId, to: 5 }).state).toBe("unsigned");
    const listed = logger(store, { publicKeys: { [old.keyId]: old.publicKey } });
    const again = await exported(listed, workspaceId, { to: 5 });
    expect(verifyExport(again.text, again.manifest, { publicKeys: keys, workspaceId, to: 5 }).state).toBe("verified");
    await rotated.close();
    await listed.close();
  });
});
