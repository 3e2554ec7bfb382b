import { randomUUID } from "node:crypto";
import { err } from "neverthrow";
import { describe, expect, it } from "vitest";
import { BatchingMode } from "../../../src/audit/batching-mode.js";
import { DEFAULT_BATCH, GroupCommitter } from "../../../src/audit/group-commit.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import type { PreparedEvent } from "../../../src/audit/event.js";
import type { AuditStore } from "../../../src/audit/store.js";
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

describe("group commit with a store that splits batches (AuditStore.split)", () => {
  const other = randomUUID();
  const event = (w: string, i: number): PreparedEvent =>
    prepareEvent({ workspaceId: w, actor: { type: "member", id: `m${i}` }, action: "journey.updated", metadata: { i } }, DEFAULT_LIMITS, systemClock, random)._unsafeUnwrap();

  /**
   * A memory store that puts `other`'s events in a part of their own. That part's commits wait for
   * `release()`, or fail when `failSlow` is set; the calls are recorded per part.
   */
  function splittingStore(failSlow = false) {
    const store: AuditStore = new MemoryAuditStore();
    const calls: string[][] = [];
    const held: (() => void)[] = [];
    const original = store.appendBatch.bind(store);
    store.split = (events) => {
      const slow = events.filter((e) => e.workspaceId === other);
      const fast = events.filter((e) => e.workspaceId !== other);
      return slow.length === 0 || fast.length === 0 ? [events] : [fast, slow];
    };
    store.appendBatch = async (events, now) => {
      calls.push(events.map((e) => (e.workspaceId === other ? "slow" : "fast")));
      if (events.some((e) => e.workspaceId === other)) {
        await new Promise<void>((r) => held.push(r));
        if (failSlow) return err({ type: "StoreFailed", message: "the slow part failed", retryable: false });
      }
      return original(events, now);
    };
    return { store, calls, release: () => held.splice(0).forEach((r) => r()) };
  }

  it("commits each part on its own: the fast part's callers resolve while the slow part still waits", async () => {
    const { store, calls, release } = splittingStore();
    // One batch in flight at most: the slow part must not take that place.
    const committer = new GroupCommitter(store, { ...DEFAULT_BATCH, maxInFlight: 1 }, () => Date.now(), () => undefined, { completed: () => false });
    const slow = committer.submit(event(other, 0));
    const fast = [committer.submit(event(workspaceId, 1)), committer.submit(event(workspaceId, 2))];
    const fastOutcomes = await Promise.all(fast);
    expect(fastOutcomes.map((r) => r._unsafeUnwrap().seq).sort()).toEqual([1, 2]);
    expect(calls).toEqual([["fast", "fast"], ["slow"]]);
    // The slow part does not hold up the next batches either (it is not one of the batches in flight).
    const more = await Promise.all([3, 4].map((i) => committer.submit(event(workspaceId, i))));
    expect(more.map((r) => r._unsafeUnwrap().seq).sort()).toEqual([3, 4]);
    let flushed = false;
    const idle = committer.flush().then(() => (flushed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(flushed).toBe(false); // flush (and close) wait for the slow part too
    release();
    expect((await slow)._unsafeUnwrap().seq).toBe(1);
    await idle;
  });

  it.each([
    { what: "drops an event", split: (events: readonly PreparedEvent[]) => [[events[1] as PreparedEvent], [events[2] as PreparedEvent]] },
    { what: "adds an event not in the batch", split: (events: readonly PreparedEvent[]) => [[...events], [event(other, 9)]] },
    { what: "uses an event twice", split: (events: readonly PreparedEvent[]) => [[...events], [events[0] as PreparedEvent]] },
    {
      what: "throws",
      split: () => {
        throw new Error("split failed");
      },
    },
  ])("a split that $what is ignored: the batch commits whole and every caller gets its outcome", async ({ split }) => {
    const store: AuditStore = new MemoryAuditStore();
    store.split = split;
    const committer = new GroupCommitter(store, DEFAULT_BATCH, () => Date.now(), () => undefined, { completed: () => false });
    const ws = randomUUID();
    const outcomes = await Promise.all([0, 1, 2].map((i) => committer.submit(event(ws, i))));
    expect(outcomes.map((r) => r._unsafeUnwrap().seq).sort()).toEqual([1, 2, 3]);
    await committer.flush();
    // Each event stored once.
    expect((await store.readEntries(ws, undefined, 100, 100))._unsafeUnwrap()).toHaveLength(3);
  });

  it("a part that fails fails only its own events", async () => {
    const { store, release } = splittingStore(true);
    const committer = new GroupCommitter(store, DEFAULT_BATCH, () => Date.now(), () => undefined, { completed: () => false });
    const slow = committer.submit(event(other, 0));
    const fast = committer.submit(event(workspaceId, 1));
    expect((await fast).isOk()).toBe(true);
    release();
    const failed = await slow;
    expect(failed.isErr() && failed.error.message).toBe("the slow part failed");
    expect((await store.readEntries(other, undefined, 10, 10))._unsafeUnwrap()).toEqual([]);
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
