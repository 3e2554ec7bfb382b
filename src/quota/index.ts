/**
 * tenancykit/quota: per-workspace count quotas, period quotas, rate limits
 * and concurrency limits behind one guard, with the in-memory store (the
 * embedded default). Redis and Postgres stores live at
 * `tenancykit/quota/redis` and `tenancykit/quota/postgres`; this entry never
 * loads ioredis or pg.
 */
export { QuotaGuard, type NearLimitEvent, type QuotaGuardOptions, type QuotaRequest, type WorkspaceQuota } from "./guard.js";
export type { LeaseOptions, LeaseStats } from "./leases.js";
export {
  StaticPolicySource,
  plansConfigProblems,
  policiesFromEnv,
  type PlansConfig,
  type PolicySource,
  type ResolvedPolicy,
  type WorkspaceAssignment,
} from "./policy.js";
export { MemoryQuotaStore, type MemoryQuotaStoreOptions } from "./stores/memory.js";
export { rateLimitHeaders } from "./headers.js";
export { periodBounds } from "./periods.js";
export { limitProblems } from "./limits.js";
export type { QuotaStore, QuotaStoreError, StoreItem, StoreMode, StoreOutcome, StoreRequest, ItemState } from "./store.js";
export {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  PERIOD_BILLING,
  PERIOD_DAY,
  PERIOD_MONTH,
} from "./store.js";
export type {
  ConcurrencyLimit,
  CostExceedsLimitError,
  CountLimit,
  Decision,
  DenialReason,
  FailurePolicy,
  InvalidCostError,
  LimitCost,
  LimitSpec,
  LimitState,
  PeriodLimit,
  Plan,
  PolicyUnavailableError,
  QuotaError,
  RateLimit,
  Reservation,
  StoreFullError,
  UnknownLimitError,
} from "./types.js";
