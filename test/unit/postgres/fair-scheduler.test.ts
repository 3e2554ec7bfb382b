import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FairScheduler, type Permit } from "../../../src/postgres/fair-scheduler.js";
import { WaitStats } from "../../../src/postgres/wait-stats.js";

const scheduler = (size: number, maxPerWorkspace: number, maxWaitingPerWorkspace = 1000) =>
  new FairScheduler({ size, maxPerWorkspace, maxWaitingPerWorkspace, maxTrackedWorkspaces: 100, now: () => 0 });

describe("FairScheduler", () => {
  it("grants round robin across waiting workspaces: a flood waits behind one grant per other workspace", async () => {
    const s = scheduler(1, 1);
    let current = (await s.acquire("F", 10_000))._unsafeUnwrap();
    const order: string[] = [];
    const granted: Permit[] = [];
    const pending = ["F", "F", "F", "A", "B"].map((ws) =>
      s.acquire(ws, 10_000).then((r) => {
        order.push(ws);
        granted.push(r._unsafeUnwrap());
      }),
    );
    for (let i = 0; i < 5; i++) {
      s.release(current);
      await new Promise((r) => setImmediate(r));
      expect(granted).toHaveLength(1);
      current = granted.shift() as Permit;
    }
    s.release(current);
    await Promise.all(pending);
    expect(order).toEqual(["F", "A", "B", "F", "F"]);
    expect(s.free).toBe(1);
  });

  it("property: a workspace never holds more than its cap, and total never exceeds size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()), { minLength: 1, maxLength: 60 }), async (ops) => {
        const s = scheduler(3, 2);
        const held: Permit[] = [];
        const waiting: Promise<unknown>[] = [];
        for (const [ws, release] of ops) {
          if (release && held.length > 0) s.release(held.shift() as Permit);
          else waiting.push(s.acquire(`w${ws}`, 60_000).then((r) => r.isOk() && held.push(r.value)));
          await new Promise((r) => setImmediate(r));
          const active = [...s.metrics().values()].map((m) => m.active);
          if (active.some((a) => a > 2) || active.reduce((a, b) => a + b, 0) > 3) return false;
          if (s.free + active.reduce((a, b) => a + b, 0) !== 3) return false;
        }
        s.close();
        return true;
      }),
      { numRuns: 100 },
    );
  });

  it("times out a waiter, refuses past the queue limit, and fails waiters on close", async () => {
    const s = scheduler(1, 1, 2);
    const held = (await s.acquire("A", 1000))._unsafeUnwrap();
    const timedOut = await s.acquire("A", 5);
    expect(timedOut._unsafeUnwrapErr().type).toBe("PoolTimeout");
    const q1 = s.acquire("A", 10_000);
    const q2 = s.acquire("A", 10_000);
    expect((await s.acquire("A", 10_000))._unsafeUnwrapErr().type).toBe("PoolQueueFull");
    s.close();
    expect((await q1)._unsafeUnwrapErr().type).toBe("PoolClosed");
    expect((await q2)._unsafeUnwrapErr().type).toBe("PoolClosed");
    s.release(held);
    expect(s.metrics().get("A")).toMatchObject({ timeouts: 1, rejected: 1, waiting: 0, active: 0 });
  });
});

describe("WaitStats", () => {
  it("reports bucket-bounded quantiles that never under-estimate", () => {
    const stats = new WaitStats();
    for (let i = 1; i <= 100; i++) stats.record(i / 10);
    const snap = stats.snapshot();
    expect(snap.count).toBe(100);
    expect(snap.maxMs).toBeCloseTo(10);
    expect(snap.p50Ms).toBeGreaterThanOrEqual(5);
    expect(snap.p99Ms).toBeGreaterThanOrEqual(9.9);
    expect(snap.p99Ms).toBeLessThanOrEqual(10);
  });
});
