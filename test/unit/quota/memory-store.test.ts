import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { KIND_COUNT, KIND_GCRA, type StoreItem } from "../../../src/quota/store.js";
import { MemoryQuotaStore } from "../../../src/quota/stores/memory.js";

const gcra = (key: string): StoreItem => ({ key, kind: KIND_GCRA, limit: 10, cost: 1, a: 1_000, b: 10 });

describe("memory store: bounded, no timers", () => {
  it("at maxKeys it sweeps expired keys; with none expired a new key is a StoreFull error and old keys keep working", () => {
    const clock = new ManualClock();
    const store = new MemoryQuotaStore({ clock, maxKeys: 3 });
    for (const k of ["a", "b", "c"]) expect(store.applySync({ mode: "consume", items: [gcra(k)] })._unsafeUnwrap().allowed).toBe(true);
    const full = store.applySync({ mode: "consume", items: [gcra("d")] });
    expect(full._unsafeUnwrapErr()).toMatchObject({ type: "StoreFull", retryable: true });
    expect(store.applySync({ mode: "consume", items: [gcra("a")] })._unsafeUnwrap().allowed).toBe(true);
    // 100 ms refills one unit per key: every bucket is full again, so the keys are idle and swept.
    clock.advance(1_000);
    expect(store.applySync({ mode: "consume", items: [gcra("d")] })._unsafeUnwrap().allowed).toBe(true);
    expect(store.size).toBe(1);
  });

  it("a count key with usage is never swept", () => {
    const clock = new ManualClock();
    const store = new MemoryQuotaStore({ clock, maxKeys: 1 });
    const seat: StoreItem = { key: "seats", kind: KIND_COUNT, limit: 5, cost: 2, a: 1_000, b: 0 };
    store.applySync({ mode: "consume", items: [seat] });
    clock.advance(10 ** 9);
    expect(store.applySync({ mode: "consume", items: [gcra("x")] }).isErr()).toBe(true);
    expect(store.applySync({ mode: "check", items: [{ ...seat, cost: 3 }] })._unsafeUnwrap()).toMatchObject({ allowed: true, states: [{ remaining: 3 }] });
  });
});

describe("leased mode: leases shrink to strict near the limit", () => {
  it("two processes' guards drain a limit exactly; at the end nothing is held and the store is at the limit", async () => {
    const store = new MemoryQuotaStore();
    const plan = { plans: { p: { m: { kind: "period" as const, period: "month" as const, limit: 1_000 } } }, defaultPlan: "p" };
    const a = new QuotaGuard({ store, policies: plan, leased: { leaseMs: 60_000 } });
    const b = new QuotaGuard({ store, policies: plan, leased: { leaseMs: 60_000 } });
    const ws = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
    let admitted = 0;
    for (let round = 0; round < 60; round++) {
      const batch = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).consume({ workspaceId: ws, limit: "m" })));
      admitted += batch.filter((r) => r._unsafeUnwrap().allowed).length;
    }
    const held = a.leaseStats()!.heldUnits + b.leaseStats()!.heldUnits;
    const strict = new QuotaGuard({ store, policies: plan });
    const remaining = (await strict.check({ workspaceId: ws, limit: "m" }))._unsafeUnwrap().remaining;
    // Every unit is accounted for: admitted + held by leases + left in the store = the limit.
    expect(admitted + held + remaining).toBe(1_000);
    // Demand (2,400) exceeded the limit, and near the end leases shrank to single units, so nothing is stranded.
    expect(held).toBe(0);
    expect(admitted).toBe(1_000);
    await a.close();
    await b.close();
  });
});
