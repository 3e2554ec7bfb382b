import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TenantMetrics } from "../../../src/metrics/index.js";

const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
const B = "c9f0f895-fb98-4b91-8a3e-5f6a7b8c9d03";

function declared(): TenantMetrics {
  const metrics = new TenantMetrics({ topK: 3 });
  metrics.counter("messages_sent", { unit: "1", description: "messages sent" });
  metrics.upDownCounter("active_journeys");
  metrics.gauge("queue_depth");
  metrics.histogram("send_latency_ms", { boundaries: [10, 100] });
  return metrics;
}

describe("instruments and handles", () => {
  it("records through bound handles and the object form into the same exact usage", () => {
    const metrics = declared();
    const ws = metrics.workspace(A)._unsafeUnwrap();
    const sent = ws.counter("messages_sent");
    for (let i = 0; i < 10; i++) expect(sent.add(2).isOk()).toBe(true);
    expect(metrics.add({ workspaceId: A.toUpperCase(), metric: "messages_sent", value: 5 }).isOk()).toBe(true);
    ws.upDownCounter("active_journeys").add(3);
    ws.upDownCounter("active_journeys").add(-1);
    ws.gauge("queue_depth").set(7);
    metrics.set({ workspaceId: A, metric: "queue_depth", value: 4 });
    ws.histogram("send_latency_ms").record(5);
    metrics.observe({ workspaceId: A, metric: "send_latency_ms", value: 500 });
    const usage = metrics.usage({ workspaceId: A })._unsafeUnwrap();
    expect(usage).toMatchObject({ tracked: true, exact: true });
    expect(usage.values).toEqual({ messages_sent: 25, active_journeys: 2, queue_depth: 4 });
    expect(usage.histograms.send_latency_ms).toMatchObject({ count: 2, sum: 505, buckets: [1, 0, 1] });
    expect(metrics.usage({ workspaceId: B })._unsafeUnwrap()).toMatchObject({ tracked: false, values: { messages_sent: 0 } });
  });

  it("returns the same bound instrument for the same name (no per-call allocation)", () => {
    const ws = declared().workspace(A)._unsafeUnwrap();
    expect(ws.counter("messages_sent")).toBe(ws.counter("messages_sent"));
    const first = ws.counter("messages_sent").add(1);
    expect(ws.counter("messages_sent").add(1)).toBe(first);
  });

  it("declaring twice is idempotent; a conflicting kind or a bad name is a TypeError", () => {
    const metrics = declared();
    expect(metrics.counter("messages_sent")).toBe(metrics.counter("messages_sent"));
    expect(() => metrics.gauge("messages_sent")).toThrow(TypeError);
    expect(() => metrics.counter("messages-sent")).toThrow(/must match/);
    expect(() => metrics.histogram("h", { boundaries: [5, 1] })).toThrow(/strictly increasing/);
    expect(() => new TenantMetrics({ topK: 0, maxWorkspaces: -1 })).toThrow(/topK.*maxWorkspaces/);
  });
});

describe("bad input is a typed Err and changes nothing", () => {
  const cases: [string, (m: TenantMetrics) => { isErr(): boolean; _unsafeUnwrapErr(): { type: string } }, string][] = [
    ["unknown metric (object form)", (m) => m.add({ workspaceId: A, metric: "nope", value: 1 }), "UnknownMetric"],
    ["unknown metric (handle)", (m) => m.workspace(A)._unsafeUnwrap().counter("nope").add(1), "UnknownMetric"],
    ["wrong kind (handle)", (m) => m.workspace(A)._unsafeUnwrap().counter("queue_depth").add(1), "UnknownMetric"],
    ["wrong kind (object form)", (m) => m.set({ workspaceId: A, metric: "messages_sent", value: 1 }), "UnknownMetric"],
    ["negative counter increment", (m) => m.add({ workspaceId: A, metric: "messages_sent", value: -1 }), "InvalidMetricValue"],
    ["negative increment (handle)", (m) => m.workspace(A)._unsafeUnwrap().counter("messages_sent").add(-0.5), "InvalidMetricValue"],
    ["NaN", (m) => m.add({ workspaceId: A, metric: "messages_sent", value: Number.NaN }), "InvalidMetricValue"],
    ["NaN (handle)", (m) => m.workspace(A)._unsafeUnwrap().counter("messages_sent").add(Number.NaN), "InvalidMetricValue"],
    ["Infinity", (m) => m.workspace(A)._unsafeUnwrap().counter("messages_sent").add(Infinity), "InvalidMetricValue"],
    ["a string value", (m) => m.workspace(A)._unsafeUnwrap().counter("messages_sent").add("1" as unknown as number), "InvalidMetricValue"],
    ["NaN gauge", (m) => m.workspace(A)._unsafeUnwrap().gauge("queue_depth").set(Number.NaN), "InvalidMetricValue"],
    ["NaN up-down", (m) => m.workspace(A)._unsafeUnwrap().upDownCounter("active_journeys").add(Number.NaN), "InvalidMetricValue"],
    ["NaN histogram", (m) => m.observe({ workspaceId: A, metric: "send_latency_ms", value: Number.NaN }), "InvalidMetricValue"],
    ["malformed workspace id", (m) => m.add({ workspaceId: "ws-1; DROP TABLE", metric: "messages_sent", value: 1 }), "InvalidWorkspaceId"],
    ["non-string workspace id", (m) => m.add({ workspaceId: 42 as unknown as string, metric: "messages_sent", value: 1 }), "InvalidWorkspaceId"],
  ];
  it.each(cases)("%s", (_name, call, type) => {
    const metrics = declared();
    metrics.add({ workspaceId: A, metric: "messages_sent", value: 3 });
    const before = JSON.stringify({ usage: metrics.snapshot(), collect: metrics.collect() });
    const result = call(metrics);
    expect(result.isErr()).toBe(true);
    expect(result._unsafeUnwrapErr().type).toBe(type);
    expect(JSON.stringify({ usage: metrics.snapshot(), collect: metrics.collect() })).toBe(before);
  });

  it("workspace() and usage() reject malformed ids", () => {
    const metrics = declared();
    expect(metrics.workspace("not-a-uuid")._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    expect(metrics.usage({ workspaceId: "" })._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    expect(metrics.snapshot()).toEqual([]);
  });
});

describe("bounded collection", () => {
  it("exports the top K by value (not arrival order) plus an exact __other__", () => {
    const metrics = declared();
    const ids = Array.from({ length: 10 }, () => randomUUID());
    ids.forEach((id, i) => metrics.add({ workspaceId: id, metric: "messages_sent", value: i + 1 }));
    const [sent] = metrics.collect();
    if (sent?.kind !== "scalar") throw new Error("expected scalar");
    expect(sent.series.map((p) => p.workspaceId)).toEqual([ids[9], ids[8], ids[7], "__other__"]);
    expect(sent.series.map((p) => p.value)).toEqual([10, 9, 8, 28]);
    expect(sent.total).toBe(55);
    expect(sent.exact).toBe(true);
  });

  it("histogram __other__ merges buckets, counts and sums of the rest", () => {
    const metrics = declared();
    const ids = Array.from({ length: 5 }, () => randomUUID());
    ids.forEach((id, i) => {
      for (let j = 0; j <= i; j++) metrics.observe({ workspaceId: id, metric: "send_latency_ms", value: 50 });
    });
    const histogram = metrics.collect().find((c) => c.kind === "histogram");
    if (histogram?.kind !== "histogram") throw new Error("expected histogram");
    expect(histogram.series).toHaveLength(4);
    expect(histogram.series.at(-1)).toMatchObject({ workspaceId: "__other__", count: 3, sum: 150, buckets: [0, 3, 0] });
    expect(histogram.totalCount).toBe(15);
  });
});
