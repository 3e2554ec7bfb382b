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
