import { periodBounds } from "../periods.js";
import { KIND_CONCURRENCY, KIND_COUNT, KIND_GCRA, KIND_PERIOD, KIND_SLIDING, type ItemState, type StoreItem, type StoreMode } from "../store.js";

/** Count quotas and concurrency leases: usage, held total and the holds themselves. */
export interface HeldEntry {
  used: number;
  reserved: number;
  /** reservation id → [cost, expiresAtMs]; null until the first hold (most count keys never reserve). */
  holds: Map<string, [number, number]> | null;
}
export interface PeriodEntry {
  /** End of the period the usage belongs to; a later period starts from zero. */
  end: number;
  used: number;
}
export interface SlidingEntry {
  window: number;
  /** Window length, kept so a sweep knows when the entry is idle. */
  size: number;
  current: number;
  previous: number;
}
export type Entry = HeldEntry | PeriodEntry | SlidingEntry;

/** True when `entry` is the state of a limit of `kind` (period, sliding window, or count/concurrency). */
export function entryFits(entry: Entry, kind: number): boolean {
  if (kind === KIND_PERIOD) return "end" in entry;
  if (kind === KIND_SLIDING) return "window" in entry;
  return "holds" in entry;
}

/** Removes expired holds; capacity returns by itself when a caller dies. */
export function purgeHolds(entry: HeldEntry, now: number): void {
  const holds = entry.holds;
  if (holds === null) return;
  for (const [id, [cost, expiresAt]] of holds) {
    if (expiresAt <= now) {
      holds.delete(id);
      entry.reserved -= cost;
    }
  }
}

function earliestExpiry(entry: HeldEntry, now: number): number {
  let earliest = Number.POSITIVE_INFINITY;
  if (entry.holds !== null) for (const [, [, at]] of entry.holds) if (at < earliest) earliest = at;
  return earliest === Number.POSITIVE_INFINITY ? now : earliest;
}

/** Units available now, for every kind. The Lua script mirrors these formulas. */
export function available(item: StoreItem, entry: Entry | number | undefined, now: number): number {
  switch (item.kind) {
    case KIND_GCRA: {
      const interval = item.a / item.limit;
      const tat = entry === undefined ? now : Math.max(entry as number, now);
      return Math.floor((now + item.b * interval - tat) / interval + 1e-9);
    }
    case KIND_PERIOD: {
      const [, end] = periodBounds(now, item.a, item.b);
      const e = entry as PeriodEntry | undefined;
      return item.limit - (e !== undefined && e.end === end ? e.used : 0);
    }
    case KIND_COUNT:
    case KIND_CONCURRENCY: {
      const e = entry as HeldEntry | undefined;
      // A concurrency limit counts only its holds: usage it shares storage with is a count limit's.
      return e === undefined ? item.limit : item.limit - (item.kind === KIND_COUNT ? e.used : 0) - e.reserved;
    }
    default: {
      const e = entry as SlidingEntry | undefined;
      return Math.floor(item.limit - slidingEstimate(item, e, now) + 1e-9);
    }
  }
}

function slidingEstimate(item: StoreItem, e: SlidingEntry | undefined, now: number): number {
  if (e === undefined) return 0;
  const windowMs = item.a;
  const window = Math.floor(now / windowMs) * windowMs;
  const [current, previous] =
    e.window === window ? [e.current, e.previous] : e.window === window - windowMs ? [0, e.current] : [0, 0];
  return (previous * (windowMs - (now - window))) / windowMs + current;
}

/** Reset time and, for a denied `cost`, the wait until it could pass. */
export function itemState(item: StoreItem, entry: Entry | number | undefined, now: number, avail: number, cost: number): ItemState {
  const denied = cost > avail;
  switch (item.kind) {
    case KIND_GCRA: {
      const interval = item.a / item.limit;
      const tat = entry === undefined ? now : Math.max(entry as number, now);
      const wait = denied ? Math.ceil(tat + cost * interval - item.b * interval - now) : 0;
      return { remaining: Math.max(0, avail), resetAt: Math.ceil(tat), retryAfterMs: Math.max(denied ? 1 : 0, wait) };
    }
    case KIND_PERIOD: {
      const [, end] = periodBounds(now, item.a, item.b);
      return { remaining: Math.max(0, avail), resetAt: end, retryAfterMs: denied ? end - now : 0 };
    }
    case KIND_COUNT:
    case KIND_CONCURRENCY: {
      const e = entry as HeldEntry | undefined;
      const next = e === undefined ? now : earliestExpiry(e, now);
      // A count quota never resets by time; only expiring holds free capacity.
      return { remaining: Math.max(0, avail), resetAt: next, retryAfterMs: denied ? next - now : 0 };
    }
    default: {
      const windowMs = item.a;
      const end = Math.floor(now / windowMs) * windowMs + windowMs;
      return { remaining: Math.max(0, avail), resetAt: end, retryAfterMs: denied ? Math.max(1, end - now) : 0 };
    }
  }
}

/** Applies one allowed request to a count/concurrency entry; false when a commit/release found no hold. */
export function writeHeld(e: HeldEntry, item: StoreItem, mode: StoreMode, id: string, amount: number, now: number): boolean {
  const counted = item.kind === KIND_COUNT;
  switch (mode) {
    case "reserve": {
      e.holds ??= new Map();
      e.holds.set(id, [amount, now + item.a]);
      e.reserved += amount;
      return true;
    }
    case "commit":
    case "release": {
      const hold = e.holds?.get(id);
      if (hold !== undefined) {
        e.holds!.delete(id);
        e.reserved -= hold[0];
        if (counted && mode === "commit") e.used += hold[0];
        return true;
      }
      // The hold expired: the resource exists anyway, so a commit counts it (reconcile corrects drift).
      if (counted && mode === "commit") e.used += amount;
      return false;
    }
    case "consume":
    case "lease":
      if (counted) e.used += amount;
      return true;
    case "refund":
      if (counted) e.used = Math.max(0, e.used - amount);
      return true;
    case "reconcile":
      if (counted) e.used = amount;
      return true;
    default:
      return true;
  }
}
