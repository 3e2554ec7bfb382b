import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { entryHash } from "../../../src/audit/chain.js";
import type { StoredEntry } from "../../../src/audit/event.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import type { DamageKind } from "../../../src/audit/verify.js";
import { ManualClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

/**
 * Property: for random chains, every single modification, deletion,
 * insertion, swap and truncation an attacker with write access to the rows
 * can make is detected, at the exact sequence number, with the right kind.
 */
const signer = signerFromSeed(new Uint8Array(32).fill(3));

async function chain(length: number, seed: number) {
  const store = new MemoryAuditStore();
  const clock = new ManualClock(Date.UTC(2026, 4, 1));
  const audit = new AuditLogger({ store, clock, signer, random: seededRandom(seed), checkpoints: { everyEvents: 1_000_000 }, batch: { lingerMs: 0 } });
  const workspaceId = randomUUID();
  for (let i = 0; i < length; i++) {
    clock.advance(1 + (i % 3));
    const appended = await audit.append({
      workspaceId,
      actor: { type: "member", id: `m${(seed + i) % 4}`, display: `u${i}@example.com` },
      action: i % 2 ? "journey.updated" : "secret.rotated",
      targets: [{ type: "journey", id: `j${i}` }],
      context: { ip: "198.51.100.9", requestId: `r${i}` },
      metadata: { i, seed },
      personal: { email: `p${i}@example.com` },
    });
    appended._unsafeUnwrap();
  }
  return { audit, store, workspaceId, rows: store.rowsForTesting(workspaceId) };
}

const flip = (bytes: Uint8Array): Buffer => {
  const copy = Buffer.from(bytes);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 1;
  return copy;
};
const rehash = (row: StoredEntry, seq: number, prevHash: Uint8Array): StoredEntry => ({
  ...row,
  seq,
  prevHash,
  hash: entryHash(row.workspaceId, seq, row.recordedAtMs, prevHash, row.body),
});

const FIELDS = ["body", "recordedAt", "prevHash", "hash", "actorColumn", "occurredColumn", "targetColumn", "personal", "salt"] as const;

function modify(row: StoredEntry, field: (typeof FIELDS)[number]): StoredEntry {
  switch (field) {
    case "body":
      return { ...row, body: row.body.replace('"metadata":{"i":', '"metadata":{"i":1') };
    case "recordedAt":
      return { ...row, recordedAtMs: row.recordedAtMs + 1 };
    case "prevHash":
      return { ...row, prevHash: flip(row.prevHash) };
    case "hash":
      return { ...row, hash: flip(row.hash) };
    case "actorColumn":
      return { ...row, index: { ...row.index, actorId: "attacker" } };
    case "occurredColumn":
      return { ...row, index: { ...row.index, occurredAtMs: row.index.occurredAtMs - 60_000 } };
    case "targetColumn":
      return { ...row, index: { ...row.index, targets: ["journey:other"] } };
    case "personal":
      return { ...row, personal: { ...row.personal, "personal.email": { value: "forged@example.com", salt: row.personal?.["personal.email"]?.salt ?? "" } } };
    case "salt":
      return { ...row, personal: { ...row.personal, "context.ip": { value: "198.51.100.9", salt: "00".repeat(16) } } };
  }
}

async function expectDamage(audit: AuditLogger, workspaceId: string, kind: DamageKind, seq: number): Promise<void> {
  const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
  expect(report.damage).toMatchObject({ kind, seq });
}

const sizes = fc.integer({ min: 3, max: 30 });
const RUNS = 60;

describe("tamper detection (property)", () => {
  it("an untouched chain verifies", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), async (n, seed) => {
        const { audit, workspaceId } = await chain(n, seed);
        const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
        expect(report).toMatchObject({ ok: true, entries: n });
      }),
      { numRuns: 30 },
    );
  });

  it("detects a modification of any stored field at its seq", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), fc.constantFrom(...FIELDS), async (n, seed, at, field) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        const i = at % n;
        rows[i] = modify(rows[i] as StoredEntry, field);
        await expectDamage(audit, workspaceId, "modified", i + 1);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("detects a modification re-hashed by the attacker at its seq", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), async (n, seed, at) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        // The last row too: it has no successor to contradict it, but the head row still holds its hash.
        const i = at % n;
        const row = modify(rows[i] as StoredEntry, "body");
        rows[i] = rehash(row, row.seq, row.prevHash);
        await expectDamage(audit, workspaceId, "modified", i + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects a rewrite re-hashed forward to the end (head row untouched, no checkpoint), at the last entry", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), async (n, seed, at) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        const i = at % n;
        let prev = i === 0 ? new Uint8Array(32) : (rows[i - 1] as StoredEntry).hash;
        for (let k = i; k < n; k++) {
          const row = k === i ? modify(rows[k] as StoredEntry, "body") : (rows[k] as StoredEntry);
          rows[k] = rehash(row, row.seq, prev);
          prev = (rows[k] as StoredEntry).hash;
        }
        // Only the head row contradicts it, so the damage is named where that shows (documented limit).
        await expectDamage(audit, workspaceId, "modified", n);
      }),
      { numRuns: RUNS },
    );
  });

  // The mirror case, a predecessor rewritten and re-hashed over its own prev_hash, is the test above.
  it("names entry k, not k-1, when k's prev_hash is changed and its hash recomputed", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), fc.boolean(), async (n, seed, at, signed) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        if (signed) (await audit.checkpoint({ workspaceId }))._unsafeUnwrap(); // a checkpoint at the last entry
        const i = at % n;
        // Entry i+1's prev_hash is changed and its hash recomputed: it is the rewritten one, even when it is the
        // last entry (the head row, or the checkpoint, still holds its original hash) and even for entry 1.
        const row = rows[i] as StoredEntry;
        rows[i] = rehash(row, row.seq, flip(row.prevHash));
        await expectDamage(audit, workspaceId, "modified", i + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects a deletion, with or without renumbering what follows", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), fc.boolean(), async (n, seed, at, renumber) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        const i = at % (n - 1); // deleting the last row is a truncation (below)
        rows.splice(i, 1);
        if (renumber) for (let k = i; k < rows.length; k++) rows[k] = { ...(rows[k] as StoredEntry), seq: k + 1 };
        await expectDamage(audit, workspaceId, "deleted", i + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects an insertion: forged or correctly hashed, duplicate seq or renumbered", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), fc.boolean(), fc.boolean(), async (n, seed, at, hashed, renumber) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        const i = at % n;
        const template = modify(rows[i] as StoredEntry, "body");
        const prev = i === 0 ? new Uint8Array(32) : (rows[i - 1] as StoredEntry).hash;
        const forged = hashed ? rehash(template, i + 1, prev) : { ...template, seq: i + 1, prevHash: prev };
        rows.splice(i, 0, forged);
        if (renumber) for (let k = i + 1; k < rows.length; k++) rows[k] = { ...(rows[k] as StoredEntry), seq: k + 1 };
        await expectDamage(audit, workspaceId, "inserted", i + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects a swap of two entries at the earlier seq", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), fc.nat(), async (n, seed, a, b) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        const i = a % (n - 1);
        const j = i + 1 + (b % (n - 1 - i));
        const ri = rows[i] as StoredEntry;
        const rj = rows[j] as StoredEntry;
        rows[i] = { ...rj, seq: ri.seq };
        rows[j] = { ...ri, seq: rj.seq };
        await expectDamage(audit, workspaceId, "reordered", i + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects truncation behind a signed checkpoint (and behind the head)", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), async (n, seed, at) => {
        const { audit, workspaceId, rows } = await chain(n, seed);
        (await audit.checkpoint({ workspaceId }))._unsafeUnwrap();
        const keep = at % n;
        rows.splice(keep);
        await expectDamage(audit, workspaceId, "truncated", keep + 1);
      }),
      { numRuns: RUNS },
    );
  });

  it("detects a forged checkpoint signature and a rewrite that contradicts a checkpoint", async () => {
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat(1000), fc.nat(), async (n, seed, at) => {
        const { audit, store, workspaceId, rows } = await chain(n, seed);
        const checkpoint = (await audit.checkpoint({ workspaceId }))._unsafeUnwrap();
        expect(checkpoint?.seq).toBe(n);
        // An attacker rewrites the last row and re-hashes it: nothing follows it, but the signed checkpoint does.
        const last = modify(rows[n - 1] as StoredEntry, "body");
        rows[n - 1] = rehash(last, last.seq, last.prevHash);
        await expectDamage(audit, workspaceId, "modified", n);
        // A checkpoint whose signature does not verify is named at its seq.
        const other = new AuditLogger({ store, signer: signerFromSeed(new Uint8Array(32).fill(9)) });
        const bogusSeq = 1 + (at % (n - 1));
        (await store.saveCheckpoint({ ...(checkpoint as NonNullable<typeof checkpoint>), seq: bogusSeq, signature: "AAAA" }))._unsafeUnwrap();
        await expectDamage(audit, workspaceId, "badSignature", bogusSeq);
        await other.close();
      }),
      { numRuns: 30 },
    );
  });
});
