import type { TenancyErrorBase, InvalidInputError, InvalidWorkspaceIdError, StoreFailedError, StoreUnavailableError } from "../core/errors.js";
import type { WorkspaceId } from "../core/workspace-id.js";

/** What to do with a limit when its store cannot be reached within the timeout. */
export type FailurePolicy = "open" | "closed" | "local";

interface LimitCommon {
  /** Maximum units (for `rate`: units per `periodMs`). A positive integer. */
  readonly limit: number;
  /** Decide and report, but always allow (dark launch). @default false */
  readonly shadow?: boolean;
  /** Behaviour when the store is unavailable. @default "open" */
  readonly onStoreFailure?: FailurePolicy;
}

/** Resources that exist (users, segments, journeys): reserve → commit/release, reconcile from the truth. */
export interface CountLimit extends LimitCommon {
  readonly kind: "count";
  /** How long a reservation holds capacity if never committed or released. @default 30_000 */
  readonly reservationTtlMs?: number;
}

/** Totals per calendar period, reset at an exact UTC instant. */
export interface PeriodLimit extends LimitCommon {
  readonly kind: "period";
  /** `day` (UTC), `month` (calendar, UTC) or `billingMonth` (anchored on `anchorDay`). */
  readonly period: "day" | "month" | "billingMonth";
  /** Day of month (1-31) a billing month starts on; clamped to short months. Required for `billingMonth`. */
  readonly anchorDay?: number;
}

/** A rate: `limit` units per `periodMs`, GCRA (token bucket with `burst`) or a sliding window. */
export interface RateLimit extends LimitCommon {
  readonly kind: "rate";
  readonly periodMs: number;
  /** Units that may be spent at once; GCRA only. @default limit */
  readonly burst?: number;
  /** @default "gcra" */
  readonly algorithm?: "gcra" | "slidingWindow";
}

/** Units in use at once: leases with a TTL, released explicitly or on expiry. */
export interface ConcurrencyLimit extends LimitCommon {
  readonly kind: "concurrency";
  /** @default 60_000 */
  readonly leaseTtlMs?: number;
}

export type LimitSpec = CountLimit | PeriodLimit | RateLimit | ConcurrencyLimit;

/** A plan (tier): named limits. */
export type Plan = Readonly<Record<string, LimitSpec>>;

/** Why a request was denied: which limit, and whose (own or the parent's aggregate). */
export interface DenialReason {
  readonly limit: string;
  readonly scope: "own" | "parent";
  readonly workspaceId: WorkspaceId;
  readonly kind: LimitSpec["kind"];
}

/** The state of one limit after a decision. */
export interface LimitState {
  readonly limit: string;
  readonly scope: "own" | "parent";
  readonly workspaceId: WorkspaceId;
  readonly max: number;
  readonly remaining: number;
  readonly resetAt: number;
  readonly retryAfterMs: number;
}

/**
 * A decision is data: a denial is `ok({ allowed: false, … })`, never an error.
 * `limit`/`remaining`/`resetAt` describe the most constrained limit involved.
 */
export interface Decision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Epoch ms at which the most constrained limit resets (period end, bucket full). */
  readonly resetAt: number;
  /**
   * 0 when allowed; else how long until the same request could pass. A denial
   * with 0 has no such time: a count limit with no reservations pending frees
   * capacity only when resources are deleted (and reconciled) or released.
   */
  readonly retryAfterMs: number;
  /** True when the store was unavailable and a failure policy decided. */
  readonly degraded: boolean;
  /** True when a shadow limit denied and the request was allowed anyway. */
  readonly shadowDenied: boolean;
  readonly reason?: DenialReason;
  /** Present on an allowed `reserve`/`acquire`: pass it to `commit`/`release`. */
  readonly reservation?: Reservation;
  readonly limits: readonly LimitState[];
}

/** An opaque, serialisable handle on reserved capacity (count reservations, concurrency leases). */
export interface Reservation {
  readonly id: string;
  readonly workspaceId: WorkspaceId;
  readonly parentWorkspaceId?: WorkspaceId;
  readonly items: readonly { readonly limit: string; readonly cost: number }[];
}

export type UnknownLimitError = TenancyErrorBase<"UnknownLimit">;
export type InvalidCostError = TenancyErrorBase<"InvalidCost">;
export type CostExceedsLimitError = TenancyErrorBase<"CostExceedsLimit">;
export type PolicyUnavailableError = TenancyErrorBase<"PolicyUnavailable">;
export type StoreFullError = TenancyErrorBase<"StoreFull">;

/** Every error QuotaGuard returns. Denials are not errors. */
export type QuotaError =
  | InvalidWorkspaceIdError
  | InvalidInputError
  | UnknownLimitError
  | InvalidCostError
  | CostExceedsLimitError
  | PolicyUnavailableError
  | StoreUnavailableError
  | StoreFailedError
  | StoreFullError;

/** One limit to consume in a call: `{ limit: "messagesPerMonth", cost: 1 }`. */
export interface LimitCost {
  readonly limit: string;
  /** @default 1 */
  readonly cost?: number;
}
