import { systemClock, type Clock } from "../core/clock.js";
import type { TenancyConfig } from "../core/config.js";
import { quotedValue } from "../core/errors.js";

/** How TenantMetrics is sized. Everything has a default. */
export interface TenantMetricsOptions {
  /** Workspace series exported per metric before `__other__` (TENANCY_METRICS_TOP_K). @default 100 */
  readonly topK?: number;
  /**
   * Workspaces tracked exactly at once; memory is about 60 B + 8 B per counter
   * per workspace, plus 8 B per counter (per histogram: 8 B for `prometheus()`,
   * 16 B for OTel) per workspace for each exporter in use. Past this, idle
   * workspaces are retired and then a Space-Saving sketch takes over (values
   * become upper bounds with a reported error).
   * @default 100_000
   */
  readonly maxWorkspaces?: number;
  /**
   * A workspace with no recording for this long is retired: its values move
   * into `__other__` (totals stay exact) and its slot is freed. Checked during
   * `collect()` and when the table is full. Flush to Postgres first if you
   * need its exact usage afterwards. `0` disables retirement. @default 3_600_000 (1 h)
   */
  readonly idleTtlMs?: number;
  /**
   * Metric whose values pick Space-Saving victims: a counter or a histogram
   * (by count), whose values never fall; declaring it as an up-down counter or
   * gauge throws a TypeError. @default the first declared counter, else the
   * first histogram, else recency (the workspace recorded in the oldest idle
   * epoch)
   */
  readonly rankBy?: string;
  readonly clock?: Clock;
}

export interface ResolvedOptions {
  readonly topK: number;
  readonly maxWorkspaces: number;
  readonly idleTtlMs: number;
  readonly rankBy: string | undefined;
  readonly clock: Clock;
}

/** Invalid options are programmer errors: one TypeError listing every problem. */
export function resolveOptions(options: TenantMetricsOptions): ResolvedOptions {
  const problems: string[] = [];
  const topK = options.topK ?? 100;
  const maxWorkspaces = options.maxWorkspaces ?? 100_000;
  const idleTtlMs = options.idleTtlMs ?? 3_600_000;
  if (!Number.isInteger(topK) || topK < 1 || topK > 100_000) problems.push(`topK must be an integer in 1..100000 (got ${topK})`);
  if (!Number.isInteger(maxWorkspaces) || maxWorkspaces < 1 || maxWorkspaces > 50_000_000) {
    problems.push(`maxWorkspaces must be an integer in 1..50000000 (got ${maxWorkspaces})`);
  }
  if (!Number.isFinite(idleTtlMs) || idleTtlMs < 0) problems.push(`idleTtlMs must be ≥ 0 (got ${idleTtlMs})`);
  if (problems.length > 0) throw new TypeError(`invalid TenantMetrics options: ${problems.join("; ")}`);
  return { topK, maxWorkspaces, idleTtlMs, rankBy: options.rankBy, clock: options.clock ?? systemClock };
}

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A valid metric name: Prometheus rules, so one name works in both exporters,
 * and not `__proto__`, which a plain object (the usage reports' `values`)
 * cannot hold as a key.
 */
export function isMetricName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name) && name !== "__proto__";
}

export function checkMetricName(name: string, boundaries?: readonly number[]): void {
  const problems: string[] = [];
  if (!isMetricName(name)) problems.push(`name ${quotedValue(name)} must match ${NAME.source} and not be __proto__`);
  if (boundaries !== undefined) {
    if (boundaries.length === 0) problems.push("boundaries must not be empty");
    for (let i = 0; i < boundaries.length; i++) {
      const b = boundaries[i] ?? Number.NaN;
      if (!Number.isFinite(b) || (i > 0 && b <= (boundaries[i - 1] ?? 0))) {
        problems.push("boundaries must be finite and strictly increasing");
        break;
      }
    }
  }
  if (problems.length > 0) throw new TypeError(`invalid metric declaration: ${problems.join("; ")}`);
}

/**
 * Options from `loadConfig(process.env)`: TENANCY_METRICS_TOP_K,
 * TENANCY_METRICS_MAX_WORKSPACES and TENANCY_METRICS_IDLE_TTL_MS.
 */
export function metricsOptionsFromConfig(
  config: Pick<TenancyConfig, "metricsTopK" | "metricsMaxWorkspaces" | "metricsIdleTtlMs">,
): TenantMetricsOptions {
  return { topK: config.metricsTopK, maxWorkspaces: config.metricsMaxWorkspaces, idleTtlMs: config.metricsIdleTtlMs };
}
