import type { TenantMetricsSink } from "../core/metrics-sink.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { TenantMetrics } from "./tenant-metrics.js";

/** Most metric names the sink declares on its own; more are dropped, not declared. */
const MAX_AUTO_METRICS = 256;
const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The sink quota, cache, crypto and audit report through. It never throws:
 * a name used for the first time is declared on the fly (a counter for
 * `add`, a histogram for `observe`), and invalid values or names are dropped,
 * because a metrics problem must never fail a quota decision or a cache read.
 */
export function metricsSink(metrics: TenantMetrics): TenantMetricsSink & { readonly dropped: () => number } {
  let dropped = 0;
  let declared = 0;
  const ensure = (metric: string, kind: "counter" | "histogram"): boolean => {
    const store = metrics.store(metric);
    if (store) return store.descriptor.kind === kind;
    if (declared >= MAX_AUTO_METRICS || !NAME.test(metric)) return false;
    declared++;
    if (kind === "counter") metrics.counter(metric, { description: "reported through TenantMetricsSink" });
    else metrics.histogram(metric, { description: "reported through TenantMetricsSink" });
    return true;
  };
  return {
    add(workspaceId: WorkspaceId, metric: string, value: number): void {
      if (!ensure(metric, "counter") || metrics.add({ workspaceId, metric, value }).isErr()) dropped++;
    },
    observe(workspaceId: WorkspaceId, metric: string, value: number): void {
      if (!ensure(metric, "histogram") || metrics.observe({ workspaceId, metric, value }).isErr()) dropped++;
    },
    dropped: () => dropped,
  };
}
