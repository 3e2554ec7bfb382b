import type { Result } from "neverthrow";
import type { StoreFailedError, StoreUnavailableError } from "../core/errors.js";
import type { StoreFullError } from "./types.js";

/**
 * The narrow interface every quota store implements (memory, Redis, Postgres).
 * The guard turns limits into numeric items so a store never sees policies,
 * and one `apply` is one atomic decision over all items (one EVALSHA on
 * Redis, one transaction on Postgres).
 */
export const KIND_COUNT = 1;
export const KIND_PERIOD = 2;
export const KIND_GCRA = 3;
export const KIND_SLIDING = 4;
export const KIND_CONCURRENCY = 5;

/** Period codes for `KIND_PERIOD` items (`a`). */
export const PERIOD_DAY = 0;
export const PERIOD_MONTH = 1;
export const PERIOD_BILLING = 2;

export interface StoreItem {
  /** Store key; Redis keys are hash-tagged by the family root. */
  readonly key: string;
  readonly kind: number;
  readonly limit: number;
  readonly cost: number;
  /** count/concurrency: reservation TTL ms; period: period code; rate: periodMs. */
  readonly a: number;
  /** period: billing anchor day; gcra: burst. */
  readonly b: number;
}

/**
 * - `check`: decide, write nothing.
 * - `consume`: all-or-nothing; count/concurrency items are not consumable (use reserve).
 * - `reserve`: like consume, but count/concurrency items are held under `reservationId` with a TTL.
 * - `commit`/`release`: settle the reservation on every item (commit adds each count item's held cost to usage;
 *   when the reservation already expired, commit adds the item's `cost` instead and reports `found: false`).
 * - `reconcile`: set usage of the single item to its `cost` (the true count).
 * - `lease`: grant up to each item's `cost` (all items the same amount), at least 1, all-or-nothing.
 * - `refund`: give back `cost` units previously consumed or leased.
 */
export type StoreMode = "check" | "consume" | "reserve" | "commit" | "release" | "reconcile" | "lease" | "refund";

export interface StoreRequest {
  readonly mode: StoreMode;
  readonly items: readonly StoreItem[];
  readonly reservationId?: string;
  /** lease: the least grant worth having (the caller's cost). @default 1 */
  readonly minimum?: number;
  /**
   * refund: the store time the units were taken. Period and sliding-window
   * units are only given back within the same period/window, so a refund can
   * never lower a later period's usage.
   */
  readonly since?: number;
}

export interface ItemState {
  readonly remaining: number;
  readonly resetAt: number;
  readonly retryAfterMs: number;
}

export interface StoreOutcome {
  readonly allowed: boolean;
  /** Index of the first item that denied, -1 when none. */
  readonly failed: number;
  /** Units granted per item (lease: the leased amount; else the cost when allowed, 0 when denied). */
  readonly granted: number;
  /** The store's clock (Redis TIME on Redis) at the decision, epoch ms. */
  readonly now: number;
  /** commit/release: whether the reservation was still held. */
  readonly found: boolean;
  readonly states: readonly ItemState[];
}

export type QuotaStoreError = StoreUnavailableError | StoreFailedError | StoreFullError;

export interface QuotaStore {
  /** A short name for logs and decisions ("memory", "redis", "postgres"). */
  readonly name: string;
  /** The item kinds this store supports. */
  readonly kinds: readonly number[];
  /** Key prefix builder: keys of one family must share what the store needs (a Redis hash tag). */
  key(root: string, workspaceId: string, limit: string): string;
  apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>>;
}
