import { err } from "neverthrow";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { storeUnavailable } from "../../../src/core/errors.js";
import { QuotaGuard, type NearLimitEvent } from "../../../src/quota/guard.js";
import { rateLimitHeaders } from "../../../src/quota/headers.js";
import { policiesFromEnv, StaticPolicySource } from "../../../src/quota/policy.js";
import type { QuotaStore } from "../../../src/quota/store.js";
import { MemoryQuotaStore } from "../../../src/quota/stores/memory.js";
import type { Plan } from "../../../src/quota/types.js";

const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
const B = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02";
const PLAN: Plan = {
  messages: { kind: "period", period: "month", limit: 10 },
  ingest: { kind: "rate", limit: 10, periodMs: 1_000 },
  closedOne: { kind: "period", period: "month", limit: 2, onStoreFailure: "closed" },
  localOne: { kind: "period", period: "month", limit: 2, onStoreFailure: "local" },
};
const policies = { plans: { p: PLAN }, defaultPlan: "p" };

describe("QuotaGuard", () => {
  it("fires the near-limit hook once, when a call crosses 80%", async () => {
    const events: NearLimitEvent[] = [];
    const guard = new QuotaGuard({ policies, onNearLimit: (e) => events.push(e) });
    for (let i = 0; i < 10; i++) await guard.consume({ workspaceId: A, limit: "messages" });
    expect(events).toEqual([{ workspaceId: A, limit: "messages", scope: "own", max: 10, remaining: 2 }]);
  });

  it("a plan change applies after the policy cache TTL, without a restart", async () => {
    const clock = new ManualClock();
    const source = new StaticPolicySource({ plans: { free: { seats: { kind: "count", limit: 1 } }, pro: { seats: { kind: "count", limit: 5 } } }, defaultPlan: "free" });
    const guard = new QuotaGuard({ policies: source, clock, policyCacheMs: 1_000 });
    expect((await guard.consume({ workspaceId: A, limit: "seats" }))._unsafeUnwrap().allowed).toBe(true);
    source.assign(A, { plan: "pro" });
    expect((await guard.consume({ workspaceId: A, limit: "seats" }))._unsafeUnwrap().allowed).toBe(false);
    clock.advance(1_001);
    expect((await guard.consume({ workspaceId: A, limit: "seats" }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 3 });
  });

  it("a bound handle sees a plan change after invalidatePolicies and after the cache TTL (it remembers its last limit)", async () => {
    const clock = new ManualClock();
    const rate = (limit: number) => ({ calls: { kind: "period" as const, period: "month" as const, limit } });
    const source = new StaticPolicySource({ plans: { free: rate(2), pro: rate(5), max: rate(9) }, defaultPlan: "free" });
    const guard = new QuotaGuard({ policies: source, clock, policyCacheMs: 1_000 });
    const h = guard.workspace(A)._unsafeUnwrap();
    expect((await h.consume({ limit: "calls" }))._unsafeUnwrap()).toMatchObject({ allowed: true, limit: 2, remaining: 1 });
    source.assign(A, { plan: "pro" });
    // Still cached: the old limit.
    expect((await h.consume({ limit: "calls" }))._unsafeUnwrap()).toMatchObject({ allowed: true, limit: 2, remaining: 0 });
    guard.invalidatePolicies(A);
    expect((await h.consume({ limit: "calls" }))._unsafeUnwrap()).toMatchObject({ allowed: true, limit: 5, remaining: 2 });
    source.assign(A, { plan: "max" });
    clock.advance(1_001);
    expect((await h.consume({ limit: "calls" }))._unsafeUnwrap()).toMatchObject({ allowed: true, limit: 9, remaining: 5 });
    // Another limit name on the same handle is looked up, not taken from the memo.
    expect((await h.consume({ limit: "nope" }))._unsafeUnwrapErr().type).toBe("UnknownLimit");
  });

  it("a metrics sink counts allowed and denied decisions (memory hot path and general path)", async () => {
    const counts: Record<string, number> = {};
    const sink = { add: (_w: unknown, metric: string, v: number) => void (counts[metric] = (counts[metric] ?? 0) + v), observe: () => undefined };
    const guard = new QuotaGuard({ policies: { plans: { p: { r: { kind: "rate", limit: 2, periodMs: 60_000 }, m: { kind: "period", period: "month", limit: 1 } } }, defaultPlan: "p" }, metrics: sink });
    const h = guard.workspace(A)._unsafeUnwrap();
    for (let i = 0; i < 3; i++) await h.consume({ limit: "r" });
    for (let i = 0; i < 2; i++) await guard.consume({ workspaceId: A, limit: "m", cost: 1 });
    expect(counts).toEqual({ quota_allowed_total: 3, quota_denied_total: 2 });
  });

  it("a bound handle's remembered GCRA state follows the store when the key is swept and re-created", async () => {
    const clock = new ManualClock();
    const store = new MemoryQuotaStore({ clock });
    const guard = new QuotaGuard({ store, clock, policies: { plans: { p: { r: { kind: "rate", limit: 3, periodMs: 3_000 } } }, defaultPlan: "p" } });
    const h = guard.workspace(A)._unsafeUnwrap();
    const remaining = async () => (await h.consume({ limit: "r" }))._unsafeUnwrap().remaining;
    expect([await remaining(), await remaining()]).toEqual([2, 1]);
    // The bucket refills completely: the sweep drops the key (its state equals a fresh key's).
    clock.advance(3_000);
    expect(store.sweep()).toBe(1);
    expect(store.size).toBe(0);
    // The handle must not keep writing to the dropped state: the store holds the new key again.
    expect([await remaining(), await remaining(), await remaining()]).toEqual([2, 1, 0]);
    expect(store.size).toBe(1);
    expect((await h.consume({ limit: "r" }))._unsafeUnwrap().allowed).toBe(false);
    expect((await guard.check({ workspaceId: A, limit: "r" }))._unsafeUnwrap().remaining).toBe(0);
  });

  it("plans from TENANCY_QUOTA_PLANS: valid JSON works, every problem of a bad one is listed", async () => {
    const good = policiesFromEnv(JSON.stringify({ plans: { free: { msgs: { kind: "period", period: "day", limit: 2 } } }, defaultPlan: "free", workspaces: { [A]: { overrides: { msgs: { kind: "period", period: "day", limit: 3 } } } } }));
    const guard = new QuotaGuard({ policies: good._unsafeUnwrap() });
    expect((await guard.consume({ workspaceId: A, limit: "msgs", cost: 3 }))._unsafeUnwrap().allowed).toBe(true);
    expect((await guard.consume({ workspaceId: B, limit: "msgs", cost: 3 })).isErr()).toBe(true);
    const bad = policiesFromEnv('{"plans":{"free":{"x":{"kind":"rate","limit":0},"y":{"kind":"period","period":"week","limit":1}}},"defaultPlan":"gold"}');
    const message = bad._unsafeUnwrapErr().message;
    expect(message).toMatch(/limit must be a positive integer/);
    expect(message).toMatch(/periodMs/);
    expect(message).toMatch(/period must be/);
    expect(message).toMatch(/defaultPlan/);
    expect(policiesFromEnv("{not json")._unsafeUnwrapErr().type).toBe("PolicyUnavailable");
  });

  it("invalid constructor options throw one TypeError listing every problem", () => {
    expect(() => new QuotaGuard({ policies, policyCacheMs: -1, breakerMs: Number.NaN, nearLimitRatio: 2 })).toThrow(/policyCacheMs.*breakerMs.*nearLimitRatio/);
  });

  it("bound handles reject bad ids with a typed error and decide like check/consume", async () => {
    const guard = new QuotaGuard({ policies });
    expect(guard.workspace("nope")._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    const h = guard.workspace(A.toUpperCase())._unsafeUnwrap();
    expect(h.workspaceId).toBe(A);
    for (let i = 0; i < 10; i++) expect((await h.consume({ limit: "ingest" }))._unsafeUnwrap().allowed).toBe(true);
    expect((await h.consume({ limit: "ingest" }))._unsafeUnwrap()).toMatchObject({ allowed: false, reason: { limit: "ingest", kind: "rate" } });
    expect((await guard.consume(null as never))._unsafeUnwrapErr().type).toBe("InvalidInput");
    expect((await guard.reconcile({ workspaceId: A, limit: "ingest", actual: 1 }))._unsafeUnwrapErr().type).toBe("InvalidInput");
    expect((await guard.reconcile({ workspaceId: A, limit: "messages", actual: -1 }))._unsafeUnwrapErr().type).toBe("InvalidInput");
  });

  it("turns a decision into RateLimit-Policy, RateLimit and Retry-After headers", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const guard = new QuotaGuard({ policies, clock });
    for (let i = 0; i < 10; i++) await guard.consume({ workspaceId: A, limit: "ingest" });
    const denied = (await guard.consume({ workspaceId: A, limit: "ingest" }))._unsafeUnwrap();
    expect(rateLimitHeaders(denied, { now: clock.now() })).toEqual({
      "RateLimit-Policy": '"ingest";q=10',
      RateLimit: '"ingest";r=0;t=1',
      "Retry-After": "1",
    });
  });

  it("when the store is unavailable: open allows, closed denies, local limits in-process, all degraded", async () => {
    const down: QuotaStore = { ...new MemoryQuotaStore(), name: "down", kinds: [1, 2, 3, 4, 5], key: (r, w, l) => `${w}:${l}`, apply: async () => err(storeUnavailable("down")) };
    const guard = new QuotaGuard({ policies, store: down });
    expect((await guard.consume({ workspaceId: A, limit: "messages" }))._unsafeUnwrap()).toMatchObject({ allowed: true, degraded: true });
    expect((await guard.consume({ workspaceId: A, limit: "closedOne" }))._unsafeUnwrap()).toMatchObject({ allowed: false, degraded: true, reason: { limit: "closedOne" } });
    const local = [];
    for (let i = 0; i < 3; i++) local.push((await guard.consume({ workspaceId: A, limit: "localOne" }))._unsafeUnwrap().allowed);
    expect(local).toEqual([true, true, false]);
  });
});

/** A leased guard on a memory store and a manual clock: a 100,000-a-month limit `m`, 1 s leases of at most 100 units. */
function leasedGuard() {
  const clock = new ManualClock();
  const store = new MemoryQuotaStore({ clock });
  const policies = { plans: { p: { m: { kind: "period", period: "month", limit: 100_000 } } }, defaultPlan: "p" } as const;
  const guard = new QuotaGuard({ store, clock, policies, leased: { leaseMs: 1_000, maxLeaseUnits: 100 } });
  return { clock, store, policies, guard };
}

describe("leased mode on one store", () => {
  it("never over-admits with concurrent callers, and returns unused units on close", async () => {
    const store = new MemoryQuotaStore();
    const make = () => new QuotaGuard({ store, policies: { plans: { p: { m: { kind: "period", period: "month", limit: 1_000 } } }, defaultPlan: "p" }, leased: { leaseMs: 60_000 } });
    const guards = [make(), make(), make()];
    const results = await Promise.all(Array.from({ length: 1_500 }, (_, i) => guards[i % 3]!.consume({ workspaceId: A, limit: "m", cost: 1 + (i % 2) })));
    const admitted = results.reduce((s, r, i) => s + (r._unsafeUnwrap().allowed ? 1 + (i % 2) : 0), 0);
    expect(admitted).toBeLessThanOrEqual(1_000);
    const held = guards.reduce((s, g) => s + (g.leaseStats()?.heldUnits ?? 0), 0);
    for (const g of guards) await g.close();
    const strict = new QuotaGuard({ store, policies: { plans: { p: { m: { kind: "period", period: "month", limit: 1_000 } } }, defaultPlan: "p" } });
    const state = (await strict.check({ workspaceId: A, limit: "m" }))._unsafeUnwrap();
    // After close, the store holds exactly what was admitted: leased units came back.
    expect(1_000 - state.remaining).toBe(admitted);
    expect(held).toBeGreaterThanOrEqual(0);
    expect(guards[0]!.leaseStats()!.localDecisions).toBeGreaterThan(0);
  });

  it("a busy lease is renewed before it expires with at most one store call: kept, trimmed or topped up; units stay exact", async () => {
    const { clock, store, policies, guard } = leasedGuard();
    const h = guard.workspace(A)._unsafeUnwrap();
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    let admitted = 0;
    const consume = async (n = 1) => {
      for (let i = 0; i < n; i++) {
        if ((await h.consume({ limit: "m" }))._unsafeUnwrap().allowed) admitted++;
        await settle();
      }
    };
    const stats = () => guard.leaseStats()!;
    // Two store calls: the first lease is one unit, the second 64 (a first guess of demand).
    await consume(5);
    expect(stats()).toMatchObject({ leaseCalls: 2, refundCalls: 0, heldUnits: 60 });
    // A quarter into the lease a use renews it: demand (100, capped) is 50 a lease after halving,
    // then 25: the held units (between 1x and 4x the demand) are simply kept, with no store call.
    clock.advance(300);
    await consume();
    clock.advance(300);
    await consume();
    expect(stats()).toMatchObject({ leaseCalls: 2, refundCalls: 0, heldUnits: 58 });
    // Past the first lease's expiry the renewed lease still answers locally. Demand halves again
    // to 12: held units beyond twice that go back, in one refund call.
    clock.advance(500);
    await consume(11);
    expect(stats()).toMatchObject({ leaseCalls: 2, refundCalls: 1, returnedUnits: 33, heldUnits: 14 });
    // Demand jumps to 74 a lease: one lease call tops the 13 held units up (to twice that, capped at 100).
    clock.advance(300);
    await consume();
    expect(stats()).toMatchObject({ leaseCalls: 3, refundCalls: 1, heldUnits: 100 });
    // Used well within the demand: kept (40 left, the low-water mark is 18).
    clock.advance(300);
    await consume(60);
    expect(stats()).toMatchObject({ leaseCalls: 3, refundCalls: 1, heldUnits: 40 });
    // A burst drains the held units below the low-water mark: one lease call tops them up
    // before they run out (no caller waits for the store).
    await consume(25);
    expect(stats()).toMatchObject({ leaseCalls: 4, refundCalls: 1, heldUnits: 98 });
    // Two calls were decided by the store (the refills), every other one locally.
    expect(stats().localDecisions).toBe(admitted - 2);
    await guard.close();
    const strict = new QuotaGuard({ store, clock, policies });
    const state = (await strict.check({ workspaceId: A, limit: "m" }))._unsafeUnwrap();
    // Every leased unit either admitted a call or came back: the store counts exactly what was admitted.
    expect(admitted).toBe(104);
    expect(100_000 - state.remaining).toBe(admitted);
  });

  it("a lease expires after a lease life without use: every use pushes its expiry out", async () => {
    const { clock, guard } = leasedGuard();
    const h = guard.workspace(A)._unsafeUnwrap();
    await h.consume({ limit: "m" });
    await h.consume({ limit: "m" });
    expect(guard.leaseStats()!.leaseCalls).toBe(2);
    // Used before its renewal point (a quarter in), the lease now lives until 1,200 ms.
    clock.advance(200);
    await h.consume({ limit: "m" });
    clock.advance(900);
    await h.consume({ limit: "m" });
    expect(guard.leaseStats()).toMatchObject({ leaseCalls: 2, localDecisions: 2 });
    // A lease life without use: the next call goes to the store.
    clock.advance(1_000);
    await h.consume({ limit: "m" });
    expect(guard.leaseStats()).toMatchObject({ leaseCalls: 3, localDecisions: 2 });
    await guard.close();
  });

  it("renewals without a store call stop after a few lease lives: the lease reports a recent remaining budget", async () => {
    const { clock, store, policies, guard } = leasedGuard();
    const other = new QuotaGuard({ store, clock, policies });
    const h = guard.workspace(A)._unsafeUnwrap();
    for (let i = 0; i < 3; i++) await h.consume({ limit: "m" });
    expect(guard.leaseStats()!.leaseCalls).toBe(2);
    // Another process uses most of the budget; this one keeps renewing its held units locally.
    await other.consume({ workspaceId: A, limit: "m", cost: 90_000 });
    let remaining = 0;
    for (let step = 0; step < 6; step++) {
      clock.advance(800);
      remaining = (await h.consume({ limit: "m" }))._unsafeUnwrap().remaining;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // After SYNC_LEASES (4) lease lives a renewal asked the store, which reported the other's use.
    expect(guard.leaseStats()!.leaseCalls).toBe(3);
    expect(remaining).toBeLessThan(10_000);
    await guard.close();
  });

  it("a lease never outlives the period its units were counted in", async () => {
    // 0.5 s before the end of a UTC day, with day periods and a one-minute lease.
    const clock = new ManualClock(Date.UTC(2026, 4, 1) - 500);
    const store = new MemoryQuotaStore({ clock });
    const policies = { plans: { p: { d: { kind: "period", period: "day", limit: 1_000 } } }, defaultPlan: "p" } as const;
    const guard = new QuotaGuard({ store, clock, policies, leased: { leaseMs: 60_000 } });
    const h = guard.workspace(A)._unsafeUnwrap();
    for (let i = 0; i < 3; i++) expect((await h.consume({ limit: "d" }))._unsafeUnwrap().allowed).toBe(true);
    expect(guard.leaseStats()!.heldUnits).toBeGreaterThan(0);
    // The new day: units held from yesterday were counted yesterday and must not admit today.
    clock.advance(1_000);
    let today = 0;
    for (let i = 0; i < 5; i++) if ((await h.consume({ limit: "d" }))._unsafeUnwrap().allowed) today++;
    await guard.close();
    const strict = new QuotaGuard({ store, clock, policies });
    const state = (await strict.check({ workspaceId: A, limit: "d" }))._unsafeUnwrap();
    expect(today).toBe(5);
    expect(1_000 - state.remaining).toBe(today);
  });
});
