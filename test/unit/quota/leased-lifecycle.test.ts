import { err, type Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { storeUnavailable } from "../../../src/core/errors.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { StaticPolicySource } from "../../../src/quota/policy.js";
import type { QuotaStore, QuotaStoreError, StoreOutcome, StoreRequest } from "../../../src/quota/store.js";
import { MemoryQuotaStore } from "../../../src/quota/stores/memory.js";

/**
 * Leased mode when the world changes under a lease: a new plan, a reconcile,
 * a store outage, a shutdown. Every test counts units in the store itself, so
 * "no over-admission" and "every unit returned" are checked, not assumed.
 */
const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
const month = (limit: number) => ({ kind: "period", period: "month", limit }) as const;

/** A memory store that records every request's mode and can be made to fail. */
class RecordingStore implements QuotaStore {
  readonly name = "recording";
  readonly inner: MemoryQuotaStore;
  readonly kinds: readonly number[];
  readonly modes: string[] = [];
  failing = false;
  #release: (() => void) | undefined;

  constructor(clock?: ManualClock) {
    this.inner = new MemoryQuotaStore(clock === undefined ? {} : { clock });
    this.kinds = this.inner.kinds;
  }

  key(root: string, workspaceId: string, limit: string): string {
    return this.inner.key(root, workspaceId, limit);
  }

  /** Holds every request until `open()` (so concurrent callers really overlap one store call). */
  hold(): void {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.#gate = gate;
    this.#release = release;
  }

  open(): void {
    this.#release?.();
    this.#gate = undefined;
  }

  #gate: Promise<void> | undefined;
  /** When set, requests are applied at once and answered only after `open()` (as Redis answers after running a script). */
  lateReplies = false;

  async apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    this.modes.push(request.mode);
    if (this.lateReplies) {
      const applied = await this.inner.apply(request);
      if (this.#gate !== undefined) await this.#gate;
      return applied;
    }
    if (this.#gate !== undefined) await this.#gate;
    if (this.failing) return err(storeUnavailable("recording store is down"));
    return this.inner.apply(request);
  }
}

/** Units the store counts as used for `limit` (a strict check on the same store). */
async function used(store: QuotaStore, policies: ConstructorParameters<typeof QuotaGuard>[0]["policies"], limit: string, max: number): Promise<number> {
  const strict = new QuotaGuard({ store, policies });
  return max - (await strict.check({ workspaceId: A, limit }))._unsafeUnwrap().remaining;
}

describe("leased mode when the world changes", () => {
  it("a lowered limit applies to a workspace with a live lease: its units go back, a new lease is taken under the new limit", async () => {
    const source = new StaticPolicySource({ plans: { big: { m: month(100_000) }, small: { m: month(20) } }, defaultPlan: "big" });
    const store = new MemoryQuotaStore();
    const guard = new QuotaGuard({ store, policies: source, leased: { leaseMs: 60_000, maxLeaseUnits: 1_000, remainingDivisor: 1 } });
    const handle = guard.workspace(A)._unsafeUnwrap();
    let admitted = 0;
    for (let i = 0; i < 10; i++) if ((await handle.consume({ limit: "m" }))._unsafeUnwrap().allowed) admitted++;
    expect(guard.leaseStats()!.heldUnits).toBeGreaterThan(20);
    source.assign(A, { plan: "small" });
    guard.invalidatePolicies(A);
    // Both entry points: the bound handle (local fast path) and the object form with a cost.
    for (let i = 0; i < 100; i++) if ((await handle.consume({ limit: "m" }))._unsafeUnwrap().allowed) admitted++;
    for (let i = 0; i < 20; i++) if ((await guard.consume({ workspaceId: A, limit: "m", cost: 2 }))._unsafeUnwrap().allowed) admitted += 2;
    await guard.close();
    expect(admitted).toBe(20);
    expect(await used(store, source, "m", 20)).toBe(20);
  });

  it("reconcile drops this guard's own lease: its held units are not spent uncounted afterwards", async () => {
    const policies = { plans: { p: { m: month(100) } }, defaultPlan: "p" };
    const store = new MemoryQuotaStore();
    const guard = new QuotaGuard({ store, policies, leased: { leaseMs: 60_000, maxLeaseUnits: 100, remainingDivisor: 1 } });
    // The first lease covers the first call only; the second is sized by demand.
    for (let i = 0; i < 2; i++) expect((await guard.consume({ workspaceId: A, limit: "m" }))._unsafeUnwrap().allowed).toBe(true);
    expect(guard.leaseStats()!.heldUnits).toBeGreaterThan(50);
    (await guard.reconcile({ workspaceId: A, limit: "m", actual: 2 }))._unsafeUnwrap();
    let after = 0;
    for (let i = 0; i < 200; i++) if ((await guard.consume({ workspaceId: A, limit: "m" }))._unsafeUnwrap().allowed) after++;
    await guard.close();
    expect(after).toBe(98);
    expect(await used(store, policies, "m", 100)).toBe(100);
  });

  it("reconcile waits for a lease renewal already applied in the store: its units are neither refunded against the true count nor spent uncounted", async () => {
    const clock = new ManualClock();
    const store = new RecordingStore(clock);
    const policies = { plans: { p: { m: month(10_000) } }, defaultPlan: "p" };
    const guard = new QuotaGuard({ store, clock, policies, leased: { leaseMs: 1_000, maxLeaseUnits: 100, remainingDivisor: 1 } });
    const handle = guard.workspace(A)._unsafeUnwrap();
    for (let i = 0; i < 3; i++) (await handle.consume({ limit: "m" }))._unsafeUnwrap();
    // Local uses until one renews the lease in the background (held units run low): the renewal is
    // applied in the store at once and answered late, as Redis answers after running the script.
    store.lateReplies = true;
    store.hold();
    const sent = store.modes.length;
    const uses: Promise<unknown>[] = [];
    for (let i = 0; i < 200 && store.modes.length === sent; i++) uses.push(handle.consume({ limit: "m" }));
    expect(store.modes.slice(sent)).toEqual(["lease"]);
    const reconciling = guard.reconcile({ workspaceId: A, limit: "m", actual: 5 });
    await new Promise((resolve) => setImmediate(resolve));
    store.open();
    await Promise.all(uses);
    expect((await reconciling)._unsafeUnwrap().remaining).toBe(9_995);
    store.lateReplies = false;
    await guard.close();
    expect(await used(store.inner, policies, "m", 10_000)).toBe(5);
  });

  it("a store outage costs one lease call: waiters share its failure, the breaker then skips the store", async () => {
    const store = new RecordingStore();
    const policies = { plans: { p: { m: { ...month(1_000), onStoreFailure: "closed" as const } } }, defaultPlan: "p" };
    const guard = new QuotaGuard({ store, policies, leased: { leaseMs: 60_000 }, breakerMs: 60_000 });
    store.failing = true;
    store.hold();
    const calls = Array.from({ length: 10 }, () => guard.consume({ workspaceId: A, limit: "m" }));
    await new Promise((resolve) => setImmediate(resolve));
    store.open();
    for (const r of await Promise.all(calls)) expect(r._unsafeUnwrap()).toMatchObject({ allowed: false, degraded: true });
    expect(store.modes).toEqual(["lease"]);
    // The breaker is open: no lease is asked for, the failure policy answers at once.
    expect((await guard.consume({ workspaceId: A, limit: "m" }))._unsafeUnwrap()).toMatchObject({ allowed: false, degraded: true });
    expect(store.modes).toEqual(["lease"]);
    await guard.close();
  });

  it("callers waiting on a denied lease call decide on the strict path together, not one lease call each in turn", async () => {
    const store = new RecordingStore();
    const policies = { plans: { p: { m: month(5) } }, defaultPlan: "p" };
    const guard = new QuotaGuard({ store, policies, leased: { leaseMs: 60_000 } });
    (await guard.consume({ workspaceId: A, limit: "m", cost: 5 }))._unsafeUnwrap();
    store.modes.length = 0;
    store.hold();
    const calls = Array.from({ length: 40 }, () => guard.consume({ workspaceId: A, limit: "m" }));
    await new Promise((resolve) => setImmediate(resolve));
    store.open();
    for (const r of await Promise.all(calls)) expect(r._unsafeUnwrap().allowed).toBe(false);
    expect(store.modes.filter((m) => m === "lease")).toHaveLength(1);
    expect(store.modes.filter((m) => m === "consume")).toHaveLength(39);
    await guard.close();
  });

  it("consumes that arrive while close() runs take no lease: every leased unit is back in the store", async () => {
    const store = new RecordingStore();
    const policies = { plans: { p: { m: month(100_000) } }, defaultPlan: "p" };
    // Small leases, so the callers below need lease calls of their own while close() runs.
    const guard = new QuotaGuard({ store, policies, leased: { leaseMs: 60_000, maxLeaseUnits: 3 } });
    let admitted = 0;
    const count = (r: Awaited<ReturnType<QuotaGuard["consume"]>>) => {
      if (r._unsafeUnwrap().allowed) admitted++;
    };
    for (let i = 0; i < 5; i++) count(await guard.consume({ workspaceId: A, limit: "m" }));
    store.hold();
    const late = Array.from({ length: 20 }, () => guard.consume({ workspaceId: A, limit: "m", cost: 1 }).then(count));
    const closing = guard.close();
    const later = Array.from({ length: 20 }, () => guard.consume({ workspaceId: A, limit: "m" }).then(count));
    await new Promise((resolve) => setImmediate(resolve));
    store.open();
    await Promise.all([...late, closing, ...later]);
    expect(guard.leaseStats()!.heldUnits).toBe(0);
    expect(await used(store.inner, policies, "m", 100_000)).toBe(admitted);
  });

  it("a shadow limit never denies during an outage, whatever its failure policy", async () => {
    const store = new RecordingStore();
    store.failing = true;
    const policies = {
      plans: {
        p: {
          closedShadow: { ...month(1), shadow: true, onStoreFailure: "closed" as const },
          localShadow: { ...month(1), shadow: true, onStoreFailure: "local" as const },
        },
      },
      defaultPlan: "p",
    };
    const guard = new QuotaGuard({ store, policies });
    for (let i = 0; i < 3; i++) {
      expect((await guard.consume({ workspaceId: A, limit: "closedShadow" }))._unsafeUnwrap()).toMatchObject({ allowed: true, degraded: true });
      expect((await guard.consume({ workspaceId: A, limit: "localShadow" }))._unsafeUnwrap()).toMatchObject({ allowed: true, degraded: true });
    }
  });
});
