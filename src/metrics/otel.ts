import type { BatchObservableResult, Meter, Observable } from "@opentelemetry/api";
import { exportedOf, SeriesFamily, type SeriesAttributes, type Temporality } from "./series-family.js";
import type { TenantMetrics } from "./tenant-metrics.js";

/** The parts of an OpenTelemetry `Meter` the exporter uses (the application's own meter). */
export type OtelMeter = Pick<
  Meter,
  | "createObservableCounter"
  | "createObservableUpDownCounter"
  | "createObservableGauge"
  | "addBatchObservableCallback"
  | "removeBatchObservableCallback"
>;

export interface OpenTelemetryExportOptions {
  /** The meter to create observable instruments on, e.g. `metrics.getMeter("backend-lib")`. */
  readonly meter: OtelMeter;
  /**
   * The temporality your metric reader exports with. Under `cumulative` (the
   * OTLP default and Dittofeed's setting) named workspaces are admitted by
   * value until K are named and then kept, because the SDK keeps re-exporting
   * every attribute set it has seen; under `delta` the top K by increase are
   * named afresh every interval. @default "cumulative"
   */
  readonly temporality?: Temporality;
}

/** Stops the exporter (its instruments then report nothing). */
export interface OpenTelemetryExport {
  stop(): void;
}

/**
 * Exports every metric declared so far through observable instruments on the
 * caller's meter: at most K + 1 series per instrument (`workspace_id` =
 * a workspace id or `__other__`), summing exactly to the true total.
 * Histograms are exported as `<name>_count` (counter) and `<name>_sum`
 * (up-down counter), since OpenTelemetry has no observable histogram.
 * Never touches the global OTel API, so importing this loads nothing.
 */
export function exportToOpenTelemetry(metrics: TenantMetrics, options: OpenTelemetryExportOptions): OpenTelemetryExport {
  const temporality = options.temporality ?? "cumulative";
  const k = metrics.options.topK;
  const families: SeriesFamily<Observable>[] = [];
  for (const descriptor of metrics.metrics()) {
    const store = metrics.store(descriptor.name);
    if (!store) continue;
    for (const exported of exportedOf(store)) {
      const { name, kind } = exported;
      const opts = { description: descriptor.description, unit: descriptor.unit };
      const observable =
        kind === "counter"
          ? options.meter.createObservableCounter(name, opts)
          : kind === "upDownCounter"
            ? options.meter.createObservableUpDownCounter(name, opts)
            : options.meter.createObservableGauge(name, opts);
      families.push(new SeriesFamily(exported, observable, k, temporality));
    }
  }
  const callback = (result: BatchObservableResult): void => {
    metrics.sweep();
    const observe = (observable: Observable, value: number, attributes: SeriesAttributes) => result.observe(observable, value, attributes);
    for (const family of families) family.collect(metrics.slots, observe);
  };
  const observables = families.map((f) => f.handle);
  options.meter.addBatchObservableCallback(callback, observables);
  return { stop: () => options.meter.removeBatchObservableCallback(callback, observables) };
}
