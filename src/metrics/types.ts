/** The four instrument kinds, as in OpenTelemetry. */
export type MetricKind = "counter" | "upDownCounter" | "gauge" | "histogram";

/** Options given once when a metric is declared. */
export interface MetricOptions {
  /** UCUM-style unit (`"1"`, `"ms"`, `"By"`); exported to OTel and in Prometheus HELP. */
  readonly unit?: string;
  readonly description?: string;
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bucket boundaries, strictly increasing; an overflow bucket is implied. */
  readonly boundaries?: readonly number[];
}

/** Upper bounds suited to latencies in milliseconds. */
export const DEFAULT_BOUNDARIES: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/** The series name that carries everything outside the top K. */
export const OTHER = "__other__";

/** One declared metric as exposed to exporters. */
export interface MetricDescriptor {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly description: string;
  /** Histogram boundaries; empty for the other kinds. */
  readonly boundaries: readonly number[];
}
