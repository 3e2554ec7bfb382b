import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { deadlineIn, DeadlineQueue, type Deadline } from "../../../src/core/redis/deadlines.js";

function deadline(at: number, expired: number[], id: number): Deadline {
  return { at, settled: false, expire: () => expired.push(id) };
}

describe("DeadlineQueue (one timer for a runner's calls)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("times out exactly the calls still pending at their deadline, in order", () => {
    const q = new DeadlineQueue();
    const expired: number[] = [];
    const now = performance.now();
    const calls = [0, 1, 2, 3].map((i) => deadline(now + 50 + i, expired, i));
    for (const c of calls) q.add(c);
    // Calls 0 and 2 answer: 0 leaves the head at once, 2 waits behind 1.
    calls[0]!.settled = true;
    q.settled();
    calls[2]!.settled = true;
    q.settled();
    expect(q.size).toBe(3);
    // The timer was armed for call 0's deadline; it re-arms for call 1's.
    vi.advanceTimersByTime(50);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([1]);
    expect(calls[1]!.settled).toBe(true);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual([1, 3]);
    expect(q.size).toBe(0);
  });

  it("drops settled calls from the head at once and still times out later calls", () => {
    const q = new DeadlineQueue();
    const expired: number[] = [];
    const first = deadline(performance.now() + 50, expired, 1);
    q.add(first);
    first.settled = true;
    q.settled();
    expect(q.size).toBe(0);
    vi.advanceTimersByTime(30);
    // A later call while the timer is still armed for the first deadline.
    const second = deadline(performance.now() + 50, expired, 2);
    q.add(second);
    vi.advanceTimersByTime(20);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(30);
    expect(expired).toEqual([2]);
    expect(q.size).toBe(0);
  });
  it("times out on a monotonic clock: the wall clock stepping back an hour (NTP, a VM resume) does not delay the deadline", () => {
    const q = new DeadlineQueue();
    const expired: number[] = [];
    q.add(deadline(deadlineIn(50), expired, 1));
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(51);
    expect(expired).toEqual([1]);
  });
});
