import { quotedValue, tenancyError, type InvalidWorkspaceIdError, type StoreFailedError, type StoreUnavailableError, type TenancyErrorBase } from "../core/errors.js";

/** A metric name that was never declared, or declared as another kind. */
export type UnknownMetricError = TenancyErrorBase<"UnknownMetric">;
/** NaN, ±Infinity, a non-number, or a negative increment on a monotonic counter. */
export type InvalidMetricValueError = TenancyErrorBase<"InvalidMetricValue">;

/** Everything a recording call can return instead of Ok. */
export type RecordError = InvalidWorkspaceIdError | UnknownMetricError | InvalidMetricValueError;

/** Everything TenantMetrics can return, flushes included. */
export type MetricsError = RecordError | StoreUnavailableError | StoreFailedError;

export function unknownMetric(name: string, wanted?: string, actual?: string): UnknownMetricError {
  // Callers may pass anything as a name; JSON.stringify alone throws for a BigInt or a throwing toJSON.
  const shown = quotedValue(name);
  const message =
    wanted !== undefined && actual !== undefined
      ? `metric ${shown} is a ${actual}, not a ${wanted}`
      : `metric ${shown} was never declared (declare it with metrics.counter/upDownCounter/gauge/histogram)`;
  return tenancyError("UnknownMetric", message);
}

export function invalidValue(metric: string, value: unknown, why: string, workspaceId?: string): InvalidMetricValueError {
  const shown = typeof value === "number" ? String(value) : typeof value;
  return tenancyError("InvalidMetricValue", `metric ${JSON.stringify(metric)}: ${why} (got ${shown})`, { workspaceId });
}

/**
 * Thrown at declaration when a name would export under the same name as
 * another metric: a histogram `x` exports `x_bucket`, `x_count` and `x_sum`
 * (Prometheus; OTel and the usage table use `x_count` and `x_sum`), so no
 * other metric may be called that, and a histogram cannot be declared over
 * such names. A programmer error, like every declaration error, hence a
 * `TypeError`; `type` discriminates it.
 */
export class MetricNameCollisionError extends TypeError {
  readonly type = "MetricNameCollision" as const;
  /** The name being declared. */
  readonly metric: string;
  /** The declared metric it collides with. */
  readonly conflictsWith: string;

  constructor(metric: string, conflictsWith: string, why: string) {
    super(`metric ${JSON.stringify(metric)} collides with ${JSON.stringify(conflictsWith)}: ${why}`);
    this.name = "MetricNameCollisionError";
    this.metric = metric;
    this.conflictsWith = conflictsWith;
  }
}

/** The series-name suffixes a histogram exports under. */
export const HISTOGRAM_SUFFIXES = ["_bucket", "_count", "_sum"] as const;
