import type { Attributes, BatchObservableResult, Meter, Observable } from "@opentelemetry/api";
import { SeriesFamily, type FamilySource, type Temporality } from "./otel-family.js";
import { Column, HistogramStore, type MetricStore } from "./storage.js";
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
  const families: SeriesFamily[] = [];
  for (const descriptor of metrics.metrics()) {
    const store = metrics.store(descriptor.name);
    if (!store) continue;
    for (const { name, kind, source } of sourcesOf(store)) {
      const opts = { description: descriptor.description, unit: descriptor.unit };
      const observable =
        kind === "counter"
          ? options.meter.createObservableCounter(name, opts)
          : kind === "upDownCounter"
            ? options.meter.createObservableUpDownCounter(name, opts)
            : options.meter.createObservableGauge(name, opts);
      families.push(new SeriesFamily(observable, source, k, temporality));
    }
  }
  const callback = (result: BatchObservableResult): void => {
    metrics.sweep();
    const observe = (observable: Observable, value: number, attributes: Attributes) => result.observe(observable, value, attributes);
    for (const family of families) family.collect(metrics.slots, observe);
  };
  const observables = families.map((f) => f.observable);
  options.meter.addBatchObservableCallback(callback, observables);
  return { stop: () => options.meter.removeBatchObservableCallback(callback, observables) };
}

interface Exported {
  readonly name: string;
  readonly kind: "counter" | "upDownCounter" | "gauge";
  readonly source: FamilySource;
}

function sourcesOf(store: MetricStore): Exported[] {
  const name = store.descriptor.name;
  if (store instanceof HistogramStore) {
    const count = new Column();
    const sum = new Column();
    store.attach(count);
    store.attach(sum);
    return [
      {
        name: `${name}_count`,
        kind: "counter",
        source: { values: () => store.count, retired: () => store.retiredCount, previous: count, mode: "sum", absolute: false },
      },
      {
        name: `${name}_sum`,
        kind: "upDownCounter",
        source: { values: () => store.sum, retired: () => store.retiredSum, previous: sum, mode: "sum", absolute: true },
      },
    ];
  }
  const previous = new Column();
  store.attach(previous);
  const kind = store.descriptor.kind === "histogram" ? "counter" : store.descriptor.kind;
  return [
    {
      name,
      kind,
      source: {
        values: () => store.values,
        retired: () => store.retired,
        previous,
        mode: kind === "gauge" ? "gauge" : "sum",
        absolute: kind !== "counter",
      },
    },
  ];
}
