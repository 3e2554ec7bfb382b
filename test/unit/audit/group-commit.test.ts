import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BatchingMode } from "../../../src/audit/batching-mode.js";
import { DEFAULT_BATCH, GroupCommitter } from "../../../src/audit/group-commit.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import type { PreparedEvent } from "../../../src/audit/event.js";
import { systemClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

const random = seededRandom(3);
const workspaceId = randomUUID();
const prepared = (i: number): PreparedEvent =>
  prepareEvent({ workspaceId, actor: { type: "member", id: `m${i}` }, action: "journey.updated", metadata: { i } }, DEFAULT_LIMITS, systemClock, random)._unsafeUnwrap();

/** A memory store whose commits take a little while, recording each batch and what was committed when. */
function slowStore() {
  const store = new MemoryAuditStore();
  const sizes: number[] = [];
  let committedSeqs = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  const original = store.appendBatch.bind(store);
  store.appendBatch = async (events, now) => {
    sizes.push(events.length);
    mostInFlight = Math.max(mostInFlight, ++inFlight);
    await new Promise((r) => setTimeout(r, 2));
    const result = await original(events, now);
    committedSeqs += events.length;
    inFlight--;
    return result;
  };
  return { store, sizes, committed: () => committedSeqs, mostInFlight: () => mostInFlight };
}

/** `callers` loops that each await their append before the next, `rounds` appends each. */
async function closedLoop(committer: GroupCommitter, committed: () => number, callers: number, rounds: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (let r = 0; r < rounds; r++) {
        const outcome = (await committer.submit(prepared(next++)))._unsafeUnwrap();
        // Resolved only after its batch committed.
        expect(outcome.seq).toBeLessThanOrEqual(committed());
      }
    }),
  );
}

describe("group commit with callers that await each append", () => {
  it("merged: every waiting caller joins one batch", async () => {
    const { store, sizes, committed } = slowStore();
    const committer = new GroupCommitter(store, DEFAULT_BATCH, () => Date.now(), () => undefined, { completed: () => false });
    await closedLoop(committer, committed, 40, 5);
    expect(sizes).toEqual([40, 40, 40, 40, 40]);
  });

  it("split: the callers alternate in two halves, one preparing while the other commits", async () => {
    const { store, sizes, committed } = slowStore();
    const committer = new GroupCommitter(store, DEFAULT_BATCH, () => Date.now(), () => undefined, { completed: () => true });
    await closedLoop(committer, committed, 40, 5);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(sizes[0]).toBe(40);
    // After the first batch, no batch holds more than half the callers.
    expect(Math.max(...sizes.slice(1))).toBe(20);
    const chain = (await store.readEntries(workspaceId, undefined, 1_000, 1_000))._unsafeUnwrap();
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it.each([
    { inFlight: 2, what: "both halves are in flight at once and stay halves (a half is not split again)" },
    { inFlight: 1, what: "the halves take turns" },
  ])("split with $inFlight batch(es) in flight: $what", async ({ inFlight }) => {
    const { store, sizes, committed, mostInFlight } = slowStore();
    const committer = new GroupCommitter(store, { ...DEFAULT_BATCH, maxInFlight: inFlight }, () => Date.now(), () => undefined, { completed: () => true });
    await closedLoop(committer, committed, 40, 6);
    expect(sizes).toEqual([40, ...Array.from({ length: 10 }, () => 20)]);
    expect(mostInFlight()).toBe(inFlight);
  });
});

describe("BatchingMode", () => {
  /** Feeds `windows` windows of 4 batches of `size` events, each batch taking `msPerBatch(split)`. */
  function run(mode: BatchingMode, clock: { t: number }, windows: number, msPerBatch: (split: boolean) => number): boolean[] {
    const modes: boolean[] = [];
    for (let w = 0; w < windows; w++) {
      for (let b = 0; b < 4; b++) {
        clock.t += msPerBatch(mode.split);
        mode.completed(10);
      }
      modes.push(mode.split);
    }
    return modes;
  }

  it("tries split once, keeps whichever mode commits more events per second, and re-tries the other now and then", () => {
    const clock = { t: 0 };
    const faster = new BatchingMode(() => clock.t, 4, 4);
    faster.completed(10); // starts the first window
    // Split batches take 0.6 of the time: split wins.
    expect(run(faster, clock, 9, (split) => (split ? 6 : 10))).toEqual([true, true, true, false, true, true, true, false, true]);

    const slower = new BatchingMode(() => clock.t, 4, 4);
    slower.completed(10);
    // Split batches take 1.5 times as long: merged wins, split is re-tried every 4th window.
    expect(run(slower, clock, 9, (split) => (split ? 15 : 10))).toEqual([true, false, false, true, false, false, false, true, false]);
  });

  it("discards a window interrupted by an idle spell", () => {
    const clock = { t: 0 };
    const mode = new BatchingMode(() => clock.t, 4, 100);
    mode.completed(10);
    expect(run(mode, clock, 1, () => 10)).toEqual([true]); // merged measured: 1 event/ms; now trying split
    // Split is faster (2 events/ms), but an idle second lands in its window: that window restarts instead of counting it.
    clock.t += 1_000;
    mode.completed(10);
    expect(run(mode, clock, 1, () => 5)).toEqual([true]);
    expect(run(mode, clock, 1, () => 5)).toEqual([true]); // split keeps winning
  });

  it("needs split to win by 5% (it costs the database twice the commits)", () => {
    const clock = { t: 0 };
    const mode = new BatchingMode(() => clock.t, 4, 100);
    mode.completed(10);
    expect(run(mode, clock, 4, (split) => (split ? 9.7 : 10))).toEqual([true, false, false, false]);
  });
});
