/**
 * tenancykit/metrics: per-workspace usage metrics with bounded export
 * (top K + an exact `__other__`), exact in-process usage, and OpenTelemetry
 * and Prometheus exporters. `@opentelemetry/api` is never loaded: the
 * exporter takes the application's own meter.
 */
export { TenantMetrics, type MetricsStats, type RecordInput } from "./tenant-metrics.js";
export { metricsOptionsFromConfig, type TenantMetricsOptions } from "./options.js";
export { WorkspaceMetrics, type CounterHandle, type GaugeHandle, type HistogramHandle } from "./workspace-handle.js";
export type { RecordResult } from "./handles.js";
export type {
  HistogramCollection,
  HistogramPoint,
  MetricCollection,
  ScalarCollection,
  ScalarPoint,
} from "./collect.js";
export type { HistogramUsage, WorkspaceUsage } from "./usage.js";
export { renderPrometheus } from "./prometheus.js";
export {
  DEFAULT_BOUNDARIES,
  OTHER,
  type HistogramOptions,
  type MetricDescriptor,
  type MetricKind,
  type MetricOptions,
} from "./types.js";
export type { InvalidMetricValueError, MetricsError, RecordError, UnknownMetricError } from "./errors.js";
export { MetricNameCollisionError } from "./errors.js";
export {
  exportToOpenTelemetry,
  type OpenTelemetryExport,
  type OpenTelemetryExportOptions,
  type OtelMeter,
} from "./otel.js";
export type { Temporality } from "./series-family.js";
export { UsageFlusher, type FlushReport, type UsageFlusherOptions } from "./flusher.js";
export { METRICS_MIGRATION_SQL } from "./flush-sql.js";
export {
  buildUsageReport,
  formatUsageTable,
  parseUsagePlans,
  queryUsage,
  usageRowsFromSnapshot,
  type UsagePlans,
  type UsageReportLine,
  type UsageRow,
} from "./usage-report.js";
export { metricsSink, type CountingMetricsSink } from "./sink.js";
