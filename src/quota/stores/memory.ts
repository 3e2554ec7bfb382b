import { err, ok, type Result } from "neverthrow";
import { systemClock, type Clock } from "../../core/clock.js";
import { tenancyError } from "../../core/errors.js";
import { periodBounds } from "../periods.js";
import {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  type ItemState,
  type QuotaStore,
  type QuotaStoreError,
  type StoreItem,
  type StoreOutcome,
  type StoreRequest,
} from "../store.js";
import type { StoreFullError } from "../types.js";
import { available, entryFits, itemState, purgeHolds, writeHeld, type Entry, type HeldEntry, type PeriodEntry, type SlidingEntry } from "./memory-algorithms.js";

export interface MemoryQuotaStoreOptions {
  /** Injected clock (tests). @default systemClock */
  readonly clock?: Clock;
  /**
   * Upper bound on keys held. At the cap, expired keys are swept; if none
   * expired, new keys get a `StoreFull` error (existing keys keep working).
   * @default 1_000_000
   */
  readonly maxKeys?: number;
}

const ALL_KINDS = [KIND_COUNT, KIND_PERIOD, KIND_GCRA, KIND_SLIDING, KIND_CONCURRENCY] as const;

/**
 * The embedded default: one process, exact, no timers. Rate keys are a bare
 * `Map<string, number>` (the GCRA theoretical arrival time), so an active key
 * costs a Map slot and a number; expiry is lazy plus a sweep at the cap.
 */
export class MemoryQuotaStore implements QuotaStore {
  readonly name = "memory";
  readonly kinds: readonly number[] = ALL_KINDS;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  /**
   * GCRA keys → a box holding the theoretical arrival time. Updating the box
   * in place writes an unboxed double field: no Map.set and no HeapNumber
   * allocation per decision on an existing key.
   */
  readonly #tat = new Map<string, { t: number }>();
  readonly #entries = new Map<string, Entry>();

  constructor(options: MemoryQuotaStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 1_000_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError(`MemoryQuotaStore: maxKeys must be a positive integer, got ${maxKeys}`);
    this.#clock = options.clock ?? systemClock;
    this.#maxKeys = maxKeys;
  }

  key(_root: string, workspaceId: string, limit: string): string {
    return `${workspaceId}:${limit}`;
  }

  #getTat(key: string): number | undefined {
    const box = this.#tat.get(key);
    return box === undefined ? undefined : box.t;
  }

  #dropTat(key: string): void {
    const box = this.#tat.get(key);
    if (box === undefined) return;
    this.#tat.delete(key);
    box.t = Number.NaN;
  }

  #setTat(key: string, t: number): void {
    const box = this.#tat.get(key);
    if (box === undefined) this.#tat.set(key, { t });
    else box.t = t;
  }

  /** Keys currently held (rate and other kinds). */
  get size(): number {
    return this.#tat.size + this.#entries.size;
  }

  apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    return Promise.resolve(this.applySync(request));
  }

  /** The synchronous decision; the guard calls it directly to save a promise per call. */
  applySync(request: StoreRequest): Result<StoreOutcome, QuotaStoreError> {
    const now = this.#clock.now();
    const { items, mode } = request;
    // Fast path: one GCRA item consumed, the hot case for rate limits.
    if (items.length === 1 && mode === "consume" && items[0]!.kind === KIND_GCRA) return this.#gcraConsume(items[0]!, now);
    const n = items.length;
    const avails: number[] = new Array<number>(n);
    let failed = -1;
    let granted = 0;
    const consuming = mode === "consume" || mode === "reserve" || mode === "check" || mode === "lease";
    let want = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      const item = items[i]!;
      const entry = this.#get(item);
      if (entry !== undefined && (item.kind === KIND_COUNT || item.kind === KIND_CONCURRENCY)) purgeHolds(entry as HeldEntry, now);
      const avail = available(item, entry, now);
      avails[i] = avail;
      if (!consuming) continue;
      if (mode === "lease") want = Math.min(want, item.cost, avail);
      else if (item.cost > avail && failed === -1) failed = i;
    }
    const minimum = request.minimum ?? 1;
    if (mode === "lease" && (n === 0 || want < minimum)) failed = Math.max(0, avails.findIndex((a) => a < minimum));
    if (mode === "lease" && failed === -1) granted = want;
    else if (failed === -1) granted = n === 0 ? 0 : (items[0]?.cost ?? 0);
    let found = true;
    if (failed === -1 && mode !== "check") {
      const full = this.#ensureRoom(items, now);
      if (full !== undefined) return err(full);
      const since = request.since ?? now;
      for (const item of items) found = this.#write(item, mode, request.reservationId ?? "", mode === "lease" ? granted : item.cost, now, since) && found;
    }
    const states: ItemState[] = new Array<ItemState>(n);
    for (let i = 0; i < n; i++) {
      const item = items[i]!;
      const entry = this.#get(item);
      const denied = failed !== -1;
      const avail = denied || mode === "check" ? avails[i]! : available(item, entry, now);
      states[i] = itemState(item, entry, now, avail, denied ? (mode === "lease" ? minimum : item.cost) : 0);
    }
    return ok({ allowed: failed === -1, failed, granted: failed === -1 ? granted : 0, now, found, states });
  }

  /** Reset instant of the last `gcraConsumeRaw` call. */
  lastResetAt = 0;

  /**
   * The guard's hottest path (one GCRA limit, no parent): the same decision as
   * `applySync`, returned as one number so nothing is allocated: remaining
   * units (>= 0) when allowed, else minus the wait in ms (<= -1).
   * `lastResetAt` holds the reset instant. Returns NaN when the key would not fit.
   */
  gcraConsumeRaw(item: StoreItem, now = this.#clock.now(), memo?: { box: { t: number } | undefined }): number {
    const interval = item.a / item.limit;
    // A caller may remember the key's box between calls (one Map lookup less); a dropped box holds NaN.
    let box = memo?.box;
    if (box === undefined || Number.isNaN(box.t)) {
      box = this.#tat.get(item.key);
      if (memo !== undefined) memo.box = box;
    }
    const tat = box === undefined || box.t < now ? now : box.t;
    const next = tat + item.cost * interval;
    const tolerance = item.b * interval;
    if (next - now <= tolerance + 1e-6) {
      if (box !== undefined) box.t = next;
      else {
        if (this.size >= this.#maxKeys && this.#ensureRoom([item], now) !== undefined) return Number.NaN;
        this.#tat.set(item.key, { t: next });
      }
      this.lastResetAt = Math.ceil(next);
      const remaining = Math.floor((now + tolerance - next) / interval + 1e-9);
      return remaining > 0 ? remaining : 0;
    }
    this.lastResetAt = Math.ceil(tat);
    return -Math.max(1, Math.ceil(next - tolerance - now));
  }

  #gcraConsume(item: StoreItem, now: number): Result<StoreOutcome, QuotaStoreError> {
    const interval = item.a / item.limit;
    const stored = this.#getTat(item.key);
    const tat = stored === undefined || stored < now ? now : stored;
    const next = tat + item.cost * interval;
    const tolerance = item.b * interval;
    if (next - now <= tolerance + 1e-6) {
      if (stored === undefined && this.size >= this.#maxKeys) {
        const full = this.#ensureRoom([item], now);
        if (full !== undefined) return err(full);
      }
      this.#setTat(item.key, next);
      const remaining = Math.max(0, Math.floor((now + tolerance - next) / interval + 1e-9));
      return ok({ allowed: true, failed: -1, granted: item.cost, now, found: true, states: [{ remaining, resetAt: Math.ceil(next), retryAfterMs: 0 }] });
    }
    const remaining = Math.max(0, Math.floor((now + tolerance - tat) / interval + 1e-9));
    const retryAfterMs = Math.max(1, Math.ceil(next - tolerance - now));
    return ok({ allowed: false, failed: 0, granted: 0, now, found: true, states: [{ remaining, resetAt: Math.ceil(tat), retryAfterMs }] });
  }

  #get(item: StoreItem): Entry | number | undefined {
    return item.kind === KIND_GCRA ? this.#getTat(item.key) : this.#entryOf(item);
  }

  /**
   * The entry of a period, sliding-window, count or concurrency item. One left
   * by a limit of the same name but another kind (the plan changed it) does not
   * apply: it reads as absent, and only a write of the new kind replaces it
   * (never a check or a refund), so a guard still on the old policy cannot
   * reset the new limit by reading it.
   */
  #entryOf(item: StoreItem): Entry | undefined {
    const e = this.#entries.get(item.key);
    return e === undefined || entryFits(e, item.kind) ? e : undefined;
  }

  /** Applies one allowed item; returns false when a commit/release found no hold. */
  #write(item: StoreItem, mode: StoreRequest["mode"], id: string, amount: number, now: number, since: number): boolean {
    switch (item.kind) {
      case KIND_GCRA: {
        const interval = item.a / item.limit;
        const stored = this.#getTat(item.key);
        const tat = stored === undefined || stored < now ? now : stored;
        if (mode === "consume" || mode === "reserve" || mode === "lease") this.#setTat(item.key, tat + amount * interval);
        else if (mode === "refund") {
          const back = tat - amount * interval;
          if (back <= now) this.#dropTat(item.key);
          else this.#setTat(item.key, back);
        }
        return true;
      }
      case KIND_PERIOD: {
        const [, end] = periodBounds(now, item.a, item.b);
        if (mode === "refund" && periodBounds(since, item.a, item.b)[1] !== end) return true;
        let e = this.#entryOf(item) as PeriodEntry | undefined;
        // A refund gives back units of existing state; it never creates or replaces any.
        if (mode === "refund" && (e === undefined || e.end !== end)) return true;
        if (e === undefined || e.end !== end) {
          e = { end, used: 0 };
          this.#entries.set(item.key, e);
        }
        if (mode === "consume" || mode === "reserve" || mode === "lease") e.used += amount;
        else if (mode === "refund") e.used = Math.max(0, e.used - amount);
        else if (mode === "reconcile") e.used = amount;
        return true;
      }
      case KIND_SLIDING: {
        const windowMs = item.a;
        const window = Math.floor(now / windowMs) * windowMs;
        if (mode === "refund" && Math.floor(since / windowMs) * windowMs !== window) return true;
        let e = this.#entryOf(item) as SlidingEntry | undefined;
        if (mode === "refund" && e === undefined) return true;
        if (e === undefined) {
          e = { window, size: windowMs, current: 0, previous: 0 };
          this.#entries.set(item.key, e);
        } else if (e.window !== window) {
          e.previous = e.window === window - windowMs ? e.current : 0;
          e.current = 0;
          e.window = window;
        }
        if (mode === "consume" || mode === "reserve" || mode === "lease") e.current += amount;
        else if (mode === "refund") e.current = Math.max(0, e.current - amount);
        return true;
      }
      default:
        return this.#writeHeld(item, mode, id, amount, now);
    }
  }

  #writeHeld(item: StoreItem, mode: StoreRequest["mode"], id: string, amount: number, now: number): boolean {
    let e = this.#entryOf(item) as HeldEntry | undefined;
    if (e === undefined && mode === "refund") return true;
    if (e === undefined) {
      e = { used: 0, reserved: 0, holds: null };
      this.#entries.set(item.key, e);
    }
    return writeHeld(e, item, mode, id, amount, now);
  }

  /** Makes room for the keys `items` would create; sweeps expired keys at the cap. */
  #ensureRoom(items: readonly StoreItem[], now: number): StoreFullError | undefined {
    let fresh = 0;
    for (const item of items) if (this.#get(item) === undefined) fresh++;
    if (fresh === 0 || this.size + fresh <= this.#maxKeys) return undefined;
    this.sweep(now);
    if (this.size + fresh <= this.#maxKeys) return undefined;
    return tenancyError("StoreFull", `memory quota store holds ${this.size} keys (maxKeys ${this.#maxKeys}) and none has expired`, { retryable: true });
  }

  /**
   * Loads one key's state as `dump` wrote it (used by the Postgres store, which
   * runs these same algorithms on rows locked in a transaction). Returns false
   * for corrupt state, which the caller reports as a typed error.
   */
  load(key: string, kind: number, state: unknown): boolean {
    if (state === null || state === undefined) return true;
    const s = state as Record<string, unknown>;
    // State left by a limit of the same name but another kind (the plan changed it) does not apply: start afresh.
    const stored = typeof s !== "object" ? undefined : "tat" in s ? KIND_GCRA : "end" in s ? KIND_PERIOD : "window" in s ? KIND_SLIDING : "holds" in s ? KIND_COUNT : undefined;
    if (stored !== undefined && stored !== (kind === KIND_CONCURRENCY ? KIND_COUNT : kind)) return true;
    const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
    if (kind === KIND_GCRA) {
      if (!num(s.tat)) return false;
      this.#setTat(key, s.tat as number);
    } else if (kind === KIND_PERIOD) {
      if (!num(s.end) || !num(s.used)) return false;
      this.#entries.set(key, { end: s.end as number, used: s.used as number });
    } else if (kind === KIND_SLIDING) {
      if (!num(s.window) || !num(s.size) || !num(s.current) || !num(s.previous)) return false;
      this.#entries.set(key, { window: s.window as number, size: s.size as number, current: s.current as number, previous: s.previous as number });
    } else {
      const holds = s.holds;
      if (!num(s.used) || !Array.isArray(holds)) return false;
      const map = new Map<string, [number, number]>();
      let reserved = 0;
      for (const h of holds as unknown[]) {
        if (!Array.isArray(h) || typeof h[0] !== "string" || !num(h[1]) || !num(h[2])) return false;
        map.set(h[0], [h[1] as number, h[2] as number]);
        reserved += h[1] as number;
      }
      this.#entries.set(key, { used: s.used as number, reserved, holds: map.size === 0 ? null : map });
    }
    return true;
  }

  /** One key's state as plain JSON (see `load`); undefined when the key holds nothing. */
  dump(key: string, kind: number): unknown {
    if (kind === KIND_GCRA) {
      const tat = this.#getTat(key);
      return tat === undefined ? undefined : { tat };
    }
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if ("holds" in e) return { used: e.used, holds: e.holds === null ? [] : [...e.holds].map(([id, [c, at]]) => [id, c, at]) };
    return { ...e };
  }

  /** Drops every key whose state equals a fresh key's (refilled buckets, past periods, empty counts). */
  sweep(now = this.#clock.now()): number {
    let removed = 0;
    for (const [key, box] of this.#tat) {
      if (box.t <= now) {
        this.#tat.delete(key);
        // A handle may remember this box (see `gcraConsumeRaw`): NaN marks it as gone.
        box.t = Number.NaN;
        removed++;
      }
    }
    for (const [key, e] of this.#entries) {
      let idle: boolean;
      if ("end" in e) idle = e.end <= now;
      else if ("window" in e) idle = e.window + 2 * e.size <= now;
      else {
        purgeHolds(e, now);
        idle = e.used === 0 && e.reserved === 0;
      }
      if (idle) (this.#entries.delete(key), removed++);
    }
    return removed;
  }
}
