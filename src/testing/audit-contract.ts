import { randomUUID } from "node:crypto";
import { ManualClock } from "../core/clock.js";
import { seededRandom } from "../core/random.js";
import { AuditLogger } from "../audit/logger.js";
import { signerFromSeed } from "../audit/signing.js";
import type { AuditStore } from "../audit/store.js";

/** The test functions the suite needs (vitest's or Jest's). */
export interface AuditContractTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>): void;
  expect: (value: unknown, message?: string) => {
    toBe(expected: unknown): void;
    toEqual(expected: unknown): void;
    toMatchObject(expected: object): void;
    toBeNull(): void;
  };
}

/**
 * The AuditStore contract: every adapter must chain, deduplicate, read,
 * query, erase, checkpoint and verify identically. Run it against your own
 * adapter with `runAuditStoreContract({ describe, it, expect }, "mine", () => store)`.
 */
export function runAuditStoreContract(t: AuditContractTestApi, name: string, makeStore: () => Promise<AuditStore> | AuditStore): void {
  const { describe, it, expect } = t;
  const setup = async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 10));
    const signer = signerFromSeed(new Uint8Array(32).fill(7));
    const audit = new AuditLogger({ store: await makeStore(), clock, signer, random: seededRandom(1), checkpoints: { everyEvents: 5 } });
    return { audit, clock, workspaceId: randomUUID() };
  };
  const event = (workspaceId: string, i: number, extra: object = {}) => ({
    workspaceId,
    actor: { type: "member", id: `m${i % 3}`, display: `user${i % 3}@example.com` },
    action: i % 2 === 0 ? "journey.updated" : "secret.rotated",
    targets: [{ type: i % 2 === 0 ? "journey" : "secret", id: `t${i % 4}` }],
    context: { requestId: `r${i}`, ip: "203.0.113.7" },
    metadata: { i },
    ...extra,
  });

  describe(`AuditStore contract: ${name}`, () => {
    it("chains concurrent appends gaplessly and verifies", async () => {
      const { audit, workspaceId } = await setup();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => audit.append(event(workspaceId, i))));
      const seqs = results.map((r) => r._unsafeUnwrap().seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report).toMatchObject({ ok: true, entries: 40, damage: null });
      await audit.close();
    });

    it("stores an idempotency key once, across batches and within one", async () => {
      const { audit, workspaceId } = await setup();
      const first = (await audit.append(event(workspaceId, 1, { idempotencyKey: "k1" })))._unsafeUnwrap();
      const again = await Promise.all([1, 2, 3].map(() => audit.append(event(workspaceId, 9, { idempotencyKey: "k1" }))));
      for (const r of again) expect(r._unsafeUnwrap()).toMatchObject({ seq: first.seq, hash: first.hash, duplicate: true });
      const twice = await Promise.all([audit.append(event(workspaceId, 2, { idempotencyKey: "k2" })), audit.append(event(workspaceId, 2, { idempotencyKey: "k2" }))]);
      expect(twice.map((r) => r._unsafeUnwrap().duplicate).sort()).toEqual([false, true]);
      const page = (await audit.query({ workspaceId, limit: 100 }))._unsafeUnwrap();
      expect(page.entries.length).toBe(2);
      await audit.close();
    });

    it("stores any text faithfully: control characters, quotes, backslashes, non-ASCII", async () => {
      const { audit, workspaceId } = await setup();
      const odd = 'a\u001ebc"d\\e\u001ff\ng\u00e9\u{1F600}{"x":[1]}';
      const events = [
        event(workspaceId, 0, { actor: { type: "member", id: odd, display: odd }, metadata: { odd }, personal: { odd }, targets: [{ type: "journey", id: odd }] }),
        event(workspaceId, 1, { context: { requestId: odd, userAgent: odd }, idempotencyKey: odd }),
        event(workspaceId, 2, { metadata: { nul: "a\u0000b" } }),
      ];
      const receipts = await Promise.all(events.map((e) => audit.append(e)));
      expect(receipts.map((r) => r._unsafeUnwrap().seq).sort()).toEqual([1, 2, 3]);
      const entries = (await audit.query({ workspaceId, order: "asc" }))._unsafeUnwrap().entries;
      const first = entries.find((e) => e.metadata.odd === odd);
      expect(first).toMatchObject({ actor: { id: odd, display: odd }, personal: { odd }, targets: [{ type: "journey", id: odd }] });
      expect(entries.find((e) => e.idempotencyKey === odd)?.context).toMatchObject({ requestId: odd, userAgent: odd });
      expect((await audit.query({ workspaceId, actor: { id: odd } }))._unsafeUnwrap().entries.length).toBe(1);
      expect(entries.find((e) => e.metadata.nul !== undefined)?.metadata.nul).toBe("a\u0000b"); // only in the text body: fine
      expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 3 });
      await audit.close();
    });

    it("writes nothing for bad input and keeps the chain intact", async () => {
      const { audit, workspaceId } = await setup();
      const bad = await audit.append({ ...event(workspaceId, 0), metadata: { n: Number.NaN } });
      expect(bad._unsafeUnwrapErr().type).toBe("NotSerializable");
      const ok = (await audit.append(event(workspaceId, 1)))._unsafeUnwrap();
      expect(ok.seq).toBe(1);
      await audit.close();
    });

    it("queries with filters and keyset pages, newest first", async () => {
      const { audit, workspaceId, clock } = await setup();
      for (let i = 0; i < 25; i++) {
        clock.advance(1_000);
        (await audit.append(event(workspaceId, i)))._unsafeUnwrap();
      }
      const seen: number[] = [];
      let cursor: string | undefined;
      do {
        const page = (await audit.query({ workspaceId, action: "journey.updated", limit: 4, ...(cursor ? { cursor } : {}) }))._unsafeUnwrap();
        seen.push(...page.entries.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(seen).toEqual([25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1]);
      const byActor = (await audit.query({ workspaceId, actor: { id: "m1" }, order: "asc" }))._unsafeUnwrap();
      expect(byActor.entries.map((e) => e.seq)).toEqual([2, 5, 8, 11, 14, 17, 20, 23]);
      const byTarget = (await audit.query({ workspaceId, target: { type: "secret", id: "t1" } }))._unsafeUnwrap();
      expect(byTarget.entries.map((e) => e.seq)).toEqual([22, 18, 14, 10, 6, 2]);
      const start = Date.UTC(2026, 2, 10) + 5_000;
      const inTime = (await audit.query({ workspaceId, since: start, until: start + 3_000, order: "asc" }))._unsafeUnwrap();
      expect(inTime.entries.map((e) => e.seq)).toEqual([5, 6, 7]);
      expect(inTime.entries[0]).toMatchObject({ actor: { id: "m1", display: "user1@example.com" }, context: { ip: "203.0.113.7" } });
      await audit.close();
    });

    it("erases personal values without breaking verification", async () => {
      const { audit, workspaceId } = await setup();
      for (let i = 0; i < 9; i++) (await audit.append(event(workspaceId, i, { personal: { email: `x${i}@example.com` } })))._unsafeUnwrap();
      expect((await audit.erase({ workspaceId, actorId: "m1" }))._unsafeUnwrap()).toBe(3);
      expect((await audit.erase({ workspaceId, seqs: [1, 2, 3] }))._unsafeUnwrap()).toBe(2); // seq 2 (m1) is already erased
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report).toMatchObject({ ok: true, erased: 5 });
      const erased = (await audit.query({ workspaceId, actor: { id: "m1" } }))._unsafeUnwrap().entries[0];
      expect(erased?.erased).toBe(true);
      expect(erased?.actor.display === undefined && erased?.context.ip === undefined && erased?.personal === undefined).toBe(true);
      await audit.close();
    });

    it("signs checkpoints every N events and exports them", async () => {
      const { audit, workspaceId } = await setup();
      for (let i = 0; i < 12; i++) (await audit.append(event(workspaceId, i)))._unsafeUnwrap();
      await audit.checkpoint({ workspaceId });
      const checkpoints = (await audit.checkpoints({ workspaceId }))._unsafeUnwrap();
      expect(checkpoints.map((c) => c.seq)).toEqual([5, 10, 12]);
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report).toMatchObject({ ok: true, checkpoints: 3 });
      await audit.close();
    });
  });
}
