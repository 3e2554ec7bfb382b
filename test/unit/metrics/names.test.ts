import { describe, expect, it } from "vitest";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { MetricNameCollisionError, TenantMetrics, usageRowsFromSnapshot } from "../../../src/metrics/index.js";

const A = parseWorkspaceId("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01")._unsafeUnwrap();

function collision(fn: () => unknown): MetricNameCollisionError {
  try {
    fn();
  } catch (thrown) {
    expect(thrown).toBeInstanceOf(MetricNameCollisionError);
    expect(thrown).toBeInstanceOf(TypeError);
    return thrown as MetricNameCollisionError;
  }
  throw new Error("expected a MetricNameCollisionError");
}

describe("names a histogram exports under are reserved", () => {
  it("rejects a counter, up-down counter or gauge named <histogram>_count / _sum / _bucket", () => {
    const metrics = new TenantMetrics();
    metrics.histogram("latency");
    const error = collision(() => metrics.counter("latency_count"));
    expect(error).toMatchObject({ type: "MetricNameCollision", metric: "latency_count", conflictsWith: "latency" });
    collision(() => metrics.upDownCounter("latency_sum"));
    collision(() => metrics.gauge("latency_bucket"));
    collision(() => metrics.histogram("latency_sum"));
    expect(metrics.metrics().map((m) => m.name)).toEqual(["latency"]);
  });

  it("rejects a histogram whose series names are already taken", () => {
    const metrics = new TenantMetrics();
    metrics.counter("requests_count");
    expect(collision(() => metrics.histogram("requests"))).toMatchObject({ metric: "requests", conflictsWith: "requests_count" });
    metrics.gauge("size_bucket");
    collision(() => metrics.histogram("size"));
    expect(metrics.metrics().map((m) => m.name)).toEqual(["requests_count", "size_bucket"]);
  });

  it("leaves unrelated names alone, and re-declaring the same histogram is still idempotent", () => {
    const metrics = new TenantMetrics();
    const latency = metrics.histogram("latency");
    expect(metrics.histogram("latency")).toBe(latency);
    metrics.counter("latency_total");
    metrics.counter("other_count");
    metrics.histogram("latency_count_ms");
    expect(metrics.metrics()).toHaveLength(4);
  });

  it("the sink drops (never throws) a name that collides, and exports stay one family per name", () => {
    const metrics = new TenantMetrics();
    const sink = metrics.sink();
    sink.observe(A, "cache_bytes", 10);
    expect(() => sink.add(A, "cache_bytes_count", 1)).not.toThrow();
    expect(() => sink.add(A, "cache_bytes_sum", 1)).not.toThrow();
    expect(sink.dropped()).toBe(2);
    const families = metrics
      .prometheus()
      .split("\n")
      .filter((l) => l.startsWith("# TYPE"))
      .map((l) => l.split(" ")[2]);
    expect(new Set(families).size).toBe(families.length);
    const rows = usageRowsFromSnapshot(metrics.snapshot()).filter((r) => r.metric === "cache_bytes_count");
    expect(rows).toEqual([{ workspaceId: A, metric: "cache_bytes_count", value: 1 }]);
  });
});
