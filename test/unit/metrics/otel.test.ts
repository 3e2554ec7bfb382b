import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { afterEach, describe, expect, it } from "vitest";
import { exportToOpenTelemetry, TenantMetrics } from "../../../src/metrics/index.js";
import { exportedOf, SeriesFamily } from "../../../src/metrics/series-family.js";
import { exactTopK, rng, workspaceIds, zipfSampler } from "./workloads.js";

/** The real OpenTelemetry SDK with an in-memory exporter; `forceFlush` is one export interval. */
function sdk(temporality: AggregationTemporality) {
  const exporter = new InMemoryMetricExporter(temporality);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter("tenancykit-test"),
    async interval(): Promise<Map<string, MetricData>> {
      exporter.reset();
      await reader.forceFlush();
      const out = new Map<string, MetricData>();
      for (const resource of exporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) out.set(metric.descriptor.name, metric);
      }
      return out;
    },
    shutdown: () => provider.shutdown(),
  };
}

function points(metric: MetricData | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!metric || metric.dataPointType === DataPointType.HISTOGRAM || metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) return out;
  for (const p of metric.dataPoints) out.set(String(p.attributes.workspace_id), p.value as number);
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe.each([
  ["cumulative", AggregationTemporality.CUMULATIVE],
  ["delta", AggregationTemporality.DELTA],
] as const)("OpenTelemetry export with the real SDK under %s temporality", (name, temporality) => {
  it("10 intervals, 3,000 new workspaces each: ≤ K+1 series per metric, sums exact, counters never decrease", async () => {
    const K = 50;
    const otel = sdk(temporality);
    cleanup = otel.shutdown;
    const metrics = new TenantMetrics({ topK: K, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    metrics.upDownCounter("active_journeys");
    metrics.gauge("queue_depth");
    metrics.histogram("send_latency_ms", { boundaries: [10, 100] });
    exportToOpenTelemetry(metrics, { meter: otel.meter, temporality: name });

    const ids = workspaceIds(30_000, 99);
    const next = rng(5);
    const truth = { sent: 0, active: 0, observations: 0, latencySum: 0 };
    const depth = new Map<string, number>();
    const exportedSent = new Map<string, number>(); // running sum of delta points
    let previousCumulative = new Map<string, number>();
    const totalById = new Map<string, number>();
    for (let interval = 0; interval < 10; interval++) {
      const live = ids.slice(0, (interval + 1) * 3_000);
      // Newcomers are big on purpose in later intervals, so rankings really change.
      const draw = zipfSampler(live.length, 1.1, interval + 1);
      let intervalSent = 0;
      const intervalById = new Map<string, number>();
      for (let e = 0; e < 20_000; e++) {
        const index = e < 3_000 ? interval * 3_000 + e : live.length - 1 - draw();
        const id = live[index] ?? "";
        const inc = 1 + Math.floor(next() * 5);
        metrics.add({ workspaceId: id, metric: "messages_sent", value: inc });
        metrics.add({ workspaceId: id, metric: "active_journeys", value: e % 4 === 0 ? -1 : 1 });
        const d = Math.floor(next() * 10);
        metrics.set({ workspaceId: id, metric: "queue_depth", value: d });
        depth.set(id, d);
        metrics.observe({ workspaceId: id, metric: "send_latency_ms", value: e % 200 });
        truth.sent += inc;
        intervalSent += inc;
        intervalById.set(id, (intervalById.get(id) ?? 0) + inc);
        totalById.set(id, (totalById.get(id) ?? 0) + inc);
        truth.active += e % 4 === 0 ? -1 : 1;
        truth.observations++;
        truth.latencySum += e % 200;
      }
      const exported = await otel.interval();
      for (const metricName of ["messages_sent", "active_journeys", "queue_depth", "send_latency_ms_count", "send_latency_ms_sum"]) {
        const series = points(exported.get(metricName));
        expect(series.size, `${metricName} interval ${interval}`).toBeLessThanOrEqual(K + 1);
        expect(series.has("__other__")).toBe(true);
      }
      const sent = points(exported.get("messages_sent"));
      const gaugeTotal = sum(new Map([...depth]));
      expect(sum(points(exported.get("queue_depth")))).toBe(gaugeTotal);
      if (name === "cumulative") {
        expect(sum(sent)).toBe(truth.sent);
        expect(sum(points(exported.get("active_journeys")))).toBe(truth.active);
        expect(sum(points(exported.get("send_latency_ms_count")))).toBe(truth.observations);
        expect(sum(points(exported.get("send_latency_ms_sum")))).toBe(truth.latencySum);
        for (const [id, v] of sent) expect(v).toBeGreaterThanOrEqual(previousCumulative.get(id) ?? 0);
        if (interval === 0) {
          // Names are admitted by value (not arrival order): the first K named are the exact top K.
          const named = [...sent].filter(([id]) => id !== "__other__").map(([, v]) => v).sort((a, b) => b - a);
          expect(named).toEqual(exactTopK(totalById, K).map((id) => totalById.get(id)));
        }
        previousCumulative = sent;
      } else {
        expect(sum(sent)).toBe(intervalSent);
        for (const v of sent.values()) expect(v).toBeGreaterThanOrEqual(0);
        // Named series are the exact top K by this interval's increase.
        const named = [...sent].filter(([id]) => id !== "__other__").map(([, v]) => v).sort((a, b) => b - a);
        expect(named).toEqual(exactTopK(intervalById, K).map((id) => intervalById.get(id)));
        for (const [id, v] of sent) exportedSent.set(id, (exportedSent.get(id) ?? 0) + v);
        expect(sum(exportedSent)).toBe(truth.sent);
      }
    }
  });
});

describe("the SDK's own cap, for contrast (the problem this solves)", () => {
  it("a plain counter with a workspace attribute exceeds 2,000 series under cumulative temporality", async () => {
    const otel = sdk(AggregationTemporality.CUMULATIVE);
    cleanup = otel.shutdown;
    const counter = otel.meter.createCounter("messages_sent_plain");
    const ids = workspaceIds(9_000, 3);
    let max = 0;
    for (let interval = 0; interval < 3; interval++) {
      for (const id of ids.slice(interval * 3_000, (interval + 1) * 3_000)) counter.add(1, { workspace_id: id });
      max = Math.max(max, points((await otel.interval()).get("messages_sent_plain")).size);
    }
    expect(max).toBeGreaterThan(2_000);
  });
});

describe("delta temporality: names rotate without leaking or corrupting deltas", () => {
  const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
  const B = "c9f0f895-fb98-4b91-8a3e-5f6a7b8c9d03";

  it("a workspace named again after a gap reports exactly its interval's increase (the SDK diffs against its memo)", async () => {
    const otel = sdk(AggregationTemporality.DELTA);
    cleanup = otel.shutdown;
    const metrics = new TenantMetrics({ topK: 1, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    metrics.upDownCounter("active_journeys");
    exportToOpenTelemetry(metrics, { meter: otel.meter, temporality: "delta" });
    const step = async (id: string, sent: number, active: number) => {
      metrics.add({ workspaceId: id, metric: "messages_sent", value: sent });
      metrics.add({ workspaceId: id, metric: "active_journeys", value: active });
      const exported = await otel.interval();
      return { sent: points(exported.get("messages_sent")), active: points(exported.get("active_journeys")) };
    };
    expect((await step(A, 10, 3)).sent.get(A)).toBe(10);
    const second = await step(B, 20, 4);
    expect(second.sent.has(A)).toBe(false);
    expect(second.sent.get(B)).toBe(20);
    // A is named again with an increase larger than what it had before.
    const third = await step(A, 50, -2);
    expect(third.sent.get(A)).toBe(50);
    expect(sum(third.sent)).toBe(50);
    expect(third.active.get(A)).toBe(-2);
    expect(sum(third.active)).toBe(-2);
  });

  it("cached attribute objects stay bounded by K + 1 while names rotate", () => {
    const K = 2;
    const metrics = new TenantMetrics({ topK: K, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    const store = metrics.store("messages_sent");
    if (!store) throw new Error("no store");
    const [exported] = exportedOf(store);
    if (!exported) throw new Error("nothing exported");
    const family = new SeriesFamily(exported, {}, K, "delta");
    const ids = workspaceIds(300, 11);
    let observedSum = 0;
    for (let interval = 0; interval < 100; interval++) {
      for (let j = 0; j < 3; j++) metrics.add({ workspaceId: ids[interval * 3 + j] ?? "", metric: "messages_sent", value: 1 + j });
      const seen = new Map<string, number>();
      family.collect(metrics.slots, (_handle, value, attributes) => seen.set(attributes.workspace_id, value));
      expect(seen.size).toBeLessThanOrEqual(K + 1);
      observedSum = sum(seen);
      expect(family.retained().attributes).toBeLessThanOrEqual(K + 1);
    }
    expect(observedSum).toBeGreaterThan(0);
  });
});
