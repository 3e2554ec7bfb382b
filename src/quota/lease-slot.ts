import type { ItemMeta } from "./request.js";
import { KIND_PERIOD, KIND_SLIDING, type ItemState, type QuotaStoreError, type StoreItem } from "./store.js";

/**
 * One process's lease on one workspace limit (leases.ts), and what its held
 * units are valid for: units of a period or sliding-window limit were counted
 * in one period or window and may only admit work inside it.
 */
export interface Slot {
  readonly items: readonly StoreItem[];
  readonly meta: readonly ItemMeta[];
  units: number;
  /** Store time of the grant (refunds of period units only apply within that period). */
  since: number;
  expiresAt: number;
  size: number;
  states: readonly ItemState[];
  usedSinceGrant: number;
  grantedAt: number;
  /** A lease call in flight for this slot, resolving with how it ended (callers wait for it rather than ask again). */
  pending: Promise<RefillEnd> | null;
  /** When a slot in use renews its lease in the background (a quarter into the lease's life). */
  refreshAt: number;
  /** Local instant the period or window its units were counted in ends (Infinity for rate limits). */
  periodEnd: number;
  /** Local time of the last grant from the store (the age of `states`). */
  syncedAt: number;
  /** Below this many held units a use renews the lease early (half the demand-sized lease; 0 while a renewal is in flight). */
  lowWater: number;
}

/**
 * How a blocking lease call ended, for the callers that waited on it: granted
 * (decide from the slot again), denied (each decides on the strict path, at
 * once, instead of asking for a lease in turn) or failed (the store's error,
 * so no caller waits for a second timeout).
 */
export type RefillEnd = "granted" | "denied" | QuotaStoreError;

/**
 * True when two item lists stand for the same limits with the same parameters
 * (costs aside): a slot's held units were taken under its items' limits and
 * may not decide for a changed plan, override or parent.
 */
export function sameLimits(a: readonly StoreItem[], b: readonly StoreItem[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.key !== y.key || x.kind !== y.kind || x.limit !== y.limit || x.a !== y.a || x.b !== y.b) return false;
  }
  return true;
}

/** The smallest remaining budget among a grant's items. */
export function leastRemaining(states: readonly ItemState[]): number {
  let least = Number.POSITIVE_INFINITY;
  for (const st of states) least = Math.min(least, st.remaining);
  return least;
}

/** Period and sliding-window units count only in the period or window that granted them. */
function periodBound(kind: number): boolean {
  return kind === KIND_PERIOD || kind === KIND_SLIDING;
}

/**
 * The local instant (`at` is the local time of the store's `storeNow`) the
 * earliest period or window of a grant ends: its units were counted there
 * and would admit uncounted work after it. Infinity for rate limits.
 */
export function periodEnd(items: readonly StoreItem[], states: readonly ItemState[], storeNow: number, at: number): number {
  let end = Number.POSITIVE_INFINITY;
  for (let i = 0; i < items.length; i++) {
    const state = states[i];
    if (periodBound(items[i]!.kind) && state !== undefined) end = Math.min(end, at + (state.resetAt - storeNow));
  }
  return end;
}

/** True when a new grant counts in the same periods and windows as the slot's held units. */
export function samePeriods(slot: Slot, states: readonly ItemState[]): boolean {
  for (let i = 0; i < slot.items.length; i++) {
    const before = slot.states[i];
    if (before !== undefined && periodBound(slot.items[i]!.kind) && before.resetAt !== states[i]?.resetAt) return false;
  }
  return true;
}
