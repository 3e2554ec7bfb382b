import type { Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import type { TenancyLogger } from "../core/logger.js";
import type { TenantMetricsSink } from "../core/metrics-sink.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { LeaseOptions } from "./leases.js";
import type { PlansConfig, PolicySource } from "./policy.js";
import type { BoundLimit, BoundWorkspace } from "./resolver.js";
import type { QuotaStore } from "./store.js";
import type { Decision, LimitCost, QuotaError } from "./types.js";

/** Fired once when an allowed call takes a limit past `nearLimitRatio` of its maximum. */
export interface NearLimitEvent {
  readonly workspaceId: WorkspaceId;
  readonly limit: string;
  readonly scope: "own" | "parent";
  readonly max: number;
  readonly remaining: number;
}

export interface QuotaGuardOptions {
  /** Where limits come from: a `PolicySource`, or plans in code. */
  readonly policies: PolicySource | PlansConfig;
  /** @default a new MemoryQuotaStore (one process) */
  readonly store?: QuotaStore;
  readonly clock?: Clock;
  /** How long a resolved policy is reused. @default 5_000 */
  readonly policyCacheMs?: number;
  /** After a store failure, decide by the failure policies for this long before trying the store again. @default 1_000 */
  readonly breakerMs?: number;
  /** @default 0.8 */
  readonly nearLimitRatio?: number;
  readonly onNearLimit?: (event: NearLimitEvent) => void;
  readonly onDecision?: (workspaceId: WorkspaceId, decision: Decision) => void;
  readonly metrics?: TenantMetricsSink;
  readonly logger?: TenancyLogger;
  /** Leased mode (see docs/quota.md): decide locally from slices of budget reserved in the store. */
  readonly leased?: LeaseOptions | boolean;
}

/** `{ workspaceId, limit, cost }` for one limit, or `{ workspaceId, limits: [...] }` for several, all-or-nothing. */
export interface QuotaRequest {
  readonly workspaceId: string;
  readonly limit?: string;
  readonly cost?: number;
  readonly limits?: readonly LimitCost[];
}

/** A workspace-bound handle: the id is parsed once and policies are resolved through the cache. */
export interface WorkspaceQuota {
  readonly workspaceId: WorkspaceId;
  consume(request: Omit<QuotaRequest, "workspaceId">): Promise<Result<Decision, QuotaError>>;
  check(request: Omit<QuotaRequest, "workspaceId">): Promise<Result<Decision, QuotaError>>;
  reserve(request: Omit<QuotaRequest, "workspaceId">): Promise<Result<Decision, QuotaError>>;
}

/** @internal What a workspace handle remembers between calls (see QuotaGuard's `#boundLimit`). */
export interface HandleMemo {
  bound: BoundWorkspace | undefined;
  generation: number;
  name: string | undefined;
  limit: BoundLimit | undefined;
  /** The memory store's GCRA box for that limit (see MemoryQuotaStore.gcraConsumeRaw). */
  box: { t: number } | undefined;
}
