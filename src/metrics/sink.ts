import type { TenantMetricsSink } from "../core/metrics-sink.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { isMetricName } from "./options.js";
import type { MetricStore } from "./storage.js";
import type { TenantMetrics } from "./tenant-metrics.js";

/** Most metric names the sink declares on its own (names it failed to declare do not count); more are dropped. */
const MAX_AUTO_METRICS = 256;
/** Most names it remembers per kind; past that, names it cannot use are looked up again each time, not kept. */
const MAX_REMEMBERED = 1_024;

/** The sink plus a count of what it had to drop (bad values, names or kinds). */
export interface CountingMetricsSink extends TenantMetricsSink {
  dropped(): number;
}

/**
 * The sink quota, cache, crypto and audit report through. It never throws:
 * a name used for the first time is declared on the fly (a counter for
 * `add`, a histogram for `observe`), and invalid values, names or kinds are
 * dropped and counted, because a metrics problem must never fail a quota
 * decision or a cache read. After the first call per name it allocates
 * nothing: the store is cached and the id lookup hits core's parse cache.
 */
export function metricsSink(metrics: TenantMetrics): CountingMetricsSink {
  let dropped = 0;
  let declared = 0;
  const counters = new Map<string, MetricStore | null>();
  const histograms = new Map<string, MetricStore | null>();
  const resolve = (metric: string, kind: "counter" | "histogram"): MetricStore | null => {
    const cache = kind === "counter" ? counters : histograms;
    const cached = cache.get(metric);
    if (cached !== undefined) return cached;
    let store = metrics.store(metric);
    if (!store && declared < MAX_AUTO_METRICS && isMetricName(metric)) {
      try {
        if (kind === "counter") metrics.counter(metric, { description: "reported through TenantMetricsSink" });
        else metrics.histogram(metric, { description: "reported through TenantMetricsSink" });
        declared++; // only names really declared use up the budget
      } catch {
        // A name colliding with a histogram's series (MetricNameCollisionError): dropped, never
        // thrown, and not counted against the budget.
      }
      store = metrics.store(metric);
    }
    const usable = store && store.descriptor.kind === kind ? store : null;
    // A caller passing ever new bad names must not grow this without bound.
    if (usable !== null || cache.size < MAX_REMEMBERED) cache.set(metric, usable);
    return usable;
  };
  const record = (workspaceId: WorkspaceId, metric: string, value: number, kind: "counter" | "histogram"): void => {
    const store = resolve(metric, kind);
    const id = parseWorkspaceId(workspaceId);
    if (store === null || id.isErr() || metrics.write(store, id.value, value).isErr()) dropped++;
  };
  return {
    add: (workspaceId, metric, value) => record(workspaceId, metric, value, "counter"),
    observe: (workspaceId, metric, value) => record(workspaceId, metric, value, "histogram"),
    dropped: () => dropped,
  };
}
