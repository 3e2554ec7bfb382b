import { err, ok, type Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import { toDecision } from "./decision.js";
import type { PreparedRequest } from "./request.js";
import { leastRemaining, periodEnd, sameLimits, samePeriods, type RefillEnd, type Slot } from "./lease-slot.js";
import { KIND_CONCURRENCY, type ItemState, type QuotaStore, type StoreItem, type StoreOutcome } from "./store.js";
import type { Decision, LimitState, QuotaError } from "./types.js";

export interface LeaseOptions {
  /** A lease's life: its unused units go back to the store after this long without use. @default 1_000 */
  readonly leaseMs?: number;
  /** Largest slice one process may hold per workspace limit. @default 1_000 */
  readonly maxLeaseUnits?: number;
  /**
   * A lease never exceeds the store's remaining budget divided by this, so
   * leases shrink geometrically near the limit and end as strict (cost-sized)
   * requests. @default 16
   */
  readonly remainingDivisor?: number;
}

export interface LeaseStats {
  /** Decisions answered from a local lease, with no store call. */
  readonly localDecisions: number;
  /** Store calls that took a lease (each also decides one request). */
  readonly leaseCalls: number;
  /** Store calls that returned unused units. */
  readonly refundCalls: number;
  /** Units currently held by this process and not yet used: the under-admission it can cause. */
  readonly heldUnits: number;
  /** Units returned to the store so far. */
  readonly returnedUnits: number;
  /** Denials while this process held unused units (too few for the cost) in that slot. */
  readonly deniedWhileHolding: number;
}

/** A lease held units cover may be renewed without the store for this many lease lives. */
const SYNC_LEASES = 4;

/**
 * Leased mode: a process takes a slice of a workspace's remaining budget from
 * the store (consumed there atomically, so every unit admitted anywhere was
 * counted in the store: no over-admission), decides locally from it, and
 * refunds what it did not use on expiry or `close()`. The price is bounded
 * under-admission: units held by one process are invisible to the others
 * until returned. Lease sizes follow demand and shrink near the limit.
 */
export class LeaseBook {
  readonly #store: QuotaStore;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #maxUnits: number;
  readonly #divisor: number;
  readonly #slots = new Map<string, Slot>();
  readonly #timer: NodeJS.Timeout;
  /** Store calls sent without waiting (renewals, refunds): awaited by `close` and `discard`, so none lands after them. */
  readonly #background = new Set<Promise<void>>();
  /** Keys a reconcile is resetting: no lease is taken or used for them until it is done. */
  readonly #reconciling = new Set<string>();
  #closed = false;
  #stats = { localDecisions: 0, leaseCalls: 0, refundCalls: 0, returnedUnits: 0, deniedWhileHolding: 0 };

  /** True while the guard's circuit breaker is open: no lease is asked for (the guard decides by failure policy). */
  readonly #storeDown: () => boolean;

  constructor(store: QuotaStore, clock: Clock, options: LeaseOptions, storeDown: () => boolean) {
    const leaseMs = options.leaseMs ?? 1_000;
    const maxUnits = options.maxLeaseUnits ?? 1_000;
    const divisor = options.remainingDivisor ?? 16;
    const problems: string[] = [];
    if (!Number.isInteger(leaseMs) || leaseMs < 1) problems.push(`leaseMs must be a positive integer, got ${leaseMs}`);
    if (!Number.isInteger(maxUnits) || maxUnits < 1) problems.push(`maxLeaseUnits must be a positive integer, got ${maxUnits}`);
    if (!(divisor >= 1)) problems.push(`remainingDivisor must be >= 1, got ${divisor}`);
    if (problems.length > 0) throw new TypeError(`QuotaGuard leased: ${problems.join("; ")}`);
    this.#store = store;
    this.#storeDown = storeDown;
    this.#clock = clock;
    this.#leaseMs = leaseMs;
    this.#maxUnits = maxUnits;
    this.#divisor = divisor;
    // One timer per guard (not per key) returns expired leases of idle workspaces.
    this.#timer = setInterval(() => void this.#expire(false), leaseMs);
    this.#timer.unref();
  }

  stats(): LeaseStats {
    let held = 0;
    for (const slot of this.#slots.values()) held += slot.units;
    return { ...this.#stats, heldUnits: held };
  }

  /**
   * The synchronous hot path: a cost-1 consume answered from a live lease with
   * no promise and no store call; `undefined` when the lease cannot answer.
   */
  tryLocal(items: readonly StoreItem[], now = this.#clock.now()): Decision | undefined {
    const slot = this.#slots.get(items[0]!.key);
    if (slot === undefined || slot.pending !== null || slot.units < 1 || now >= slot.expiresAt || !sameLimits(slot.items, items)) return undefined;
    if (this.#reconciling.size !== 0 && this.#reconciling.has(items[0]!.key)) return undefined;
    this.#take(slot, 1, now);
    return this.#localDecision(slot);
  }

  /**
   * Spends held units on one decision. A lease expires after a lease life
   * without use (never past the end of the period its units count in), so
   * every use pushes its expiry out; a quarter into the lease, or when the
   * held units run low, a use also renews (re-sizes) it in the background.
   */
  #take(slot: Slot, cost: number, now: number): void {
    slot.units -= cost;
    slot.usedSinceGrant += cost;
    this.#stats.localDecisions++;
    slot.expiresAt = Math.min(now + this.#leaseMs, slot.periodEnd);
    if (now >= slot.refreshAt || slot.units < slot.lowWater) this.#startRefresh(slot, now);
  }

  /**
   * A slot in use a quarter into its lease, or whose held units run low,
   * renews it in the background, so callers keep deciding locally instead of
   * waiting for the store. A renewal sizes the held units by demand (`size`:
   * twice the use of one lease life) with hysteresis, in at most one store
   * call, usually none: held units between `size` and four times it are
   * simply kept; fewer are topped up to twice `size` with one lease call;
   * more are trimmed to twice `size` with one refund call (held units are the
   * under-admission other processes see). Every SYNC_LEASES lease lives a
   * renewal asks the store anyway, so the remaining budget a lease reports
   * (and sizes itself by) stays recent. A denied or failed call changes
   * nothing: the slot falls back to the blocking refill when it runs out or
   * expires.
   */
  #startRefresh(slot: Slot, now: number): void {
    slot.refreshAt = Number.POSITIVE_INFINITY;
    slot.lowWater = 0;
    if (this.#closed) return;
    // Demand falls by at most half per renewal, so a lease used in bursts is not trimmed and refilled every burst.
    const demand = Math.max(this.#demand(slot.usedSinceGrant, now - slot.grantedAt), Math.floor(slot.size / 2));
    const size = this.#sizeFor(demand, slot.states);
    const target = Math.min(2 * size, this.#maxUnits);
    if (slot.units >= size && now - slot.syncedAt < SYNC_LEASES * this.#leaseMs) {
      if (slot.units > 4 * size) void this.#refund(slot, slot.units - target);
      slot.size = size;
      this.#renew(slot, now, slot.periodEnd);
      return;
    }
    const items = slot.items.map((item) => ({ ...item, cost: Math.max(1, target - slot.units) }));
    const work = this.#store.apply({ mode: "lease", items, minimum: 1 }).then((outcome) => {
      this.#stats.leaseCalls++;
      if (outcome.isErr() || !outcome.value.allowed) return;
      const o = outcome.value;
      if (this.#slots.get(slot.items[0]!.key) !== slot) {
        // The slot was dropped meanwhile: give the new grant straight back.
        void this.#giveBack(slot.items, o.granted, o.now);
        return;
      }
      this.#grant(slot, o, o.granted, this.#clock.now(), size);
    });
    this.#track(work);
  }

  /**
   * Records a grant of `units` into the slot: units still valid from the
   * previous grant are kept (a period or window that ended since makes them
   * worthless: they were counted in it), the store's state and time replace
   * the old ones, and the lease lives `leaseMs` from now, never past the end
   * of a period or window its units were counted in.
   */
  #grant(slot: Slot, o: StoreOutcome, units: number, at: number, demand: number): void {
    if (!samePeriods(slot, o.states)) slot.units = 0;
    slot.units += units;
    slot.since = o.now;
    slot.states = o.states;
    slot.syncedAt = at;
    slot.size = this.#sizeFor(demand, o.states);
    this.#renew(slot, at, periodEnd(slot.items, o.states, o.now, at));
  }

  /** Demand: `used` units over `elapsedMs`, scaled to one lease life and doubled for headroom. */
  #demand(used: number, elapsedMs: number): number {
    return Math.ceil((used * this.#leaseMs * 2) / Math.max(1, elapsedMs));
  }

  /** A lease size for a demand: at most `maxLeaseUnits` and the store's remaining / `remainingDivisor`, at least 1. */
  #sizeFor(demand: number, states: readonly ItemState[]): number {
    return Math.max(1, Math.min(this.#maxUnits, demand, Math.floor(leastRemaining(states) / this.#divisor)));
  }

  /** Another lease life for the units the slot holds (capped at the end of their period). */
  #renew(slot: Slot, at: number, end: number): void {
    slot.periodEnd = end;
    slot.expiresAt = Math.min(at + this.#leaseMs, end);
    slot.grantedAt = at;
    slot.usedSinceGrant = 0;
    slot.refreshAt = at + Math.floor(this.#leaseMs / 4);
    slot.lowWater = Math.floor(slot.size / 2);
  }

  /**
   * Decides one single-limit consume from a lease; `undefined` when leased mode
   * does not apply (several limits, shadow, concurrency) or the store failed,
   * so the strict path (with its failure policies) decides instead.
   */
  async consume(prepared: PreparedRequest): Promise<Result<Decision, QuotaError> | undefined> {
    const { items, meta, costs } = prepared;
    if (costs.length !== 1) return undefined;
    for (const m of meta) if (m.limit.shadow || m.limit.kind === KIND_CONCURRENCY) return undefined;
    const cost = costs[0]!.cost;
    const key = items[0]!.key;
    for (;;) {
      // Closed: a lease taken now would never be returned. Reconciling: the count is being reset.
      if (this.#closed || this.#reconciling.has(key)) return undefined;
      let slot = this.#slots.get(key);
      if (slot !== undefined && slot.pending !== null) {
        const end = await slot.pending;
        if (end === "denied") return undefined;
        if (end !== "granted") return err(end);
        continue;
      }
      if (slot !== undefined && !sameLimits(slot.items, items)) {
        // The plan, an override or the parent changed: units taken under the old limits go back,
        // and the new limits get a lease of their own.
        this.#slots.delete(key);
        if (slot.units > 0) void this.#refund(slot);
        slot = undefined;
      }
      if (slot === undefined) {
        slot = { items, meta, units: 0, since: 0, expiresAt: 0, size: 1, states: [], usedSinceGrant: 0, grantedAt: 0, pending: null, refreshAt: 0, periodEnd: Number.POSITIVE_INFINITY, syncedAt: 0, lowWater: 0 };
        this.#slots.set(key, slot);
      }
      const now = this.#clock.now();
      if (slot.units >= cost && now < slot.expiresAt) {
        this.#take(slot, cost, now);
        return ok(this.#localDecision(slot));
      }
      // Store down (the breaker is open): no lease is asked for; the guard's failure policy decides.
      if (this.#storeDown()) return undefined;
      return this.#refill(slot, cost);
    }
  }

  /**
   * Asks the store for a lease that covers `cost`. A denial or a store failure
   * is this caller's answer (the failure as an Err, for the guard's failure
   * policy); the callers that waited meanwhile are told how it ended.
   */
  async #refill(slot: Slot, cost: number): Promise<Result<Decision, QuotaError> | undefined> {
    let release!: (end: RefillEnd) => void;
    let end: RefillEnd = "denied";
    slot.pending = new Promise<RefillEnd>((resolve) => (release = resolve));
    try {
      // An expired lease's units go back in the same round trip as the new lease
      // (both sent now, in order): the caller waits for one store call, not two.
      const refund = slot.units > 0 && this.#clock.now() >= slot.expiresAt ? this.#refund(slot) : undefined;
      const size = Math.max(cost, slot.size);
      const items = slot.items.map((item) => ({ ...item, cost: size }));
      const leasing = this.#store.apply({ mode: "lease", items, minimum: cost });
      if (refund !== undefined) await refund;
      const outcome = await leasing;
      this.#stats.leaseCalls++;
      if (outcome.isErr()) {
        end = outcome.error;
        return err(outcome.error);
      }
      const o = outcome.value;
      if (!o.allowed) {
        if (slot.units > 0) this.#stats.deniedWhileHolding++;
        return ok(toDecision(o, slot.meta, false));
      }
      end = "granted";
      const now = this.#clock.now();
      // A first lease guesses 64 calls' worth.
      const demand = slot.grantedAt === 0 ? cost * 64 : this.#demand(slot.usedSinceGrant + cost, now - slot.grantedAt);
      this.#grant(slot, o, o.granted - cost, now, demand);
      slot.usedSinceGrant = cost;
      return ok(this.#localDecision(slot));
    } finally {
      slot.pending = null;
      release(end);
    }
  }

  /** An allowed decision from the lease: the store's remaining at the grant plus what this lease still holds. */
  #localDecision(slot: Slot): Decision {
    const meta = slot.meta;
    if (meta.length === 1) {
      // One limit (a root workspace): no pick among limits.
      const m = meta[0]!;
      const s = slot.states[0];
      const remaining = (s === undefined ? 0 : s.remaining) + slot.units;
      const resetAt = s === undefined ? 0 : s.resetAt;
      const max = m.max;
      const limits: LimitState[] = [{ limit: m.name, scope: m.scope, workspaceId: m.workspaceId, max, remaining, resetAt, retryAfterMs: 0 }];
      return { allowed: true, limit: max, remaining, resetAt, retryAfterMs: 0, degraded: false, shadowDenied: false, limits };
    }
    const limits: LimitState[] = new Array<LimitState>(meta.length);
    let pick = 0;
    for (let i = 0; i < meta.length; i++) {
      const m = meta[i]!;
      const s = slot.states[i];
      const remaining = (s === undefined ? 0 : s.remaining) + slot.units;
      limits[i] = { limit: m.name, scope: m.scope, workspaceId: m.workspaceId, max: m.max, remaining, resetAt: s === undefined ? 0 : s.resetAt, retryAfterMs: 0 };
      if (remaining < limits[pick]!.remaining) pick = i;
    }
    const top = limits[pick]!;
    return { allowed: true, limit: top.max, remaining: top.remaining, resetAt: top.resetAt, retryAfterMs: 0, degraded: false, shadowDenied: false, limits };
  }

  /** Takes `units` (all by default) out of the slot and returns them to the store, in the period they were counted in. */
  #refund(slot: Slot, units = slot.units): Promise<void> {
    slot.units -= units;
    return this.#giveBack(slot.items, units, slot.since);
  }

  #giveBack(items: readonly StoreItem[], units: number, since: number): Promise<void> {
    if (units <= 0) return Promise.resolve();
    this.#stats.refundCalls++;
    const work = this.#store.apply({ mode: "refund", items: items.map((item) => ({ ...item, cost: units })), since }).then((outcome) => {
      // A failed refund leaves the units consumed: under-admission, never over-admission.
      if (outcome.isOk()) this.#stats.returnedUnits += units;
    });
    this.#track(work);
    return work;
  }

  #track(work: Promise<void>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  async #expire(all: boolean): Promise<void> {
    const now = this.#clock.now();
    const work: Promise<void>[] = [];
    for (const [key, slot] of this.#slots) {
      if (slot.pending !== null) continue;
      if (all || now >= slot.expiresAt) {
        if (slot.units > 0) work.push(this.#refund(slot));
        else if (now >= slot.expiresAt + this.#leaseMs) this.#slots.delete(key);
      }
    }
    await Promise.all(work);
  }

  /**
   * Before `reconcile` sets the store's usage of the limit stored under `key`
   * to the true count: stops leasing for it, lets every lease and refund call
   * already sent land (their units were counted before the reset), then drops
   * this process's lease without giving its units back (the true count
   * neither includes them nor may lose them again to a refund). Call the
   * returned function once the reconcile is done.
   */
  async discard(key: string): Promise<() => void> {
    this.#reconciling.add(key);
    for (let slot = this.#slots.get(key); slot?.pending != null; slot = this.#slots.get(key)) await slot.pending;
    await Promise.all([...this.#background]);
    const slot = this.#slots.get(key);
    if (slot !== undefined) {
      this.#slots.delete(key);
      slot.units = 0;
    }
    return () => this.#reconciling.delete(key);
  }

  /** Stops the timer and returns every unused unit. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    // Background renewals and refunds land before the final refunds, and any sent meanwhile before close resolves.
    await Promise.all([...this.#background]);
    for (const slot of this.#slots.values()) if (slot.pending !== null) await slot.pending;
    await this.#expire(true);
    await Promise.all([...this.#background]);
  }
}
