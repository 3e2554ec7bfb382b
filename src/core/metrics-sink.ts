import type { WorkspaceId } from "./workspace-id.js";

/**
 * How the primitives report per-workspace usage without importing
 * TenantMetrics: each takes an optional sink of this shape, and
 * `TenantMetrics` provides one (`metrics.sink()`). Names are snake_case
 * metric names (`quota_decisions_total`, `cache_hits_total`, …); each module
 * documents the names it emits. Implementations must not throw and should not
 * allocate on the hot path.
 */
export interface TenantMetricsSink {
  /** Adds `value` to a counter (monotonic). */
  add(workspaceId: WorkspaceId, metric: string, value: number): void;
  /** Records one observation of a distribution (a latency, a size). */
  observe(workspaceId: WorkspaceId, metric: string, value: number): void;
}

/** The default sink: records nothing. */
export const noopMetricsSink: TenantMetricsSink = {
  add: () => undefined,
  observe: () => undefined,
};
