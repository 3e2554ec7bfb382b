import { randomUUID } from "node:crypto";
import { GCProfiler } from "node:v8";
import { describe, expect, it } from "vitest";
import { parseWorkspaceId, type WorkspaceId } from "../../../src/core/workspace-id.js";
import { TenantMetrics, type CounterHandle, type HistogramHandle } from "../../../src/metrics/index.js";

/**
 * "The hot path allocates nothing", checked without timing: 5,000,000
 * recordings that allocated even 16 bytes each would fill V8's young
 * generation several times over and trigger scavenges; zero GC events
 * during the loop means no allocation on the path.
 */
function gcEventsDuring(run: () => void): number {
  run(); // warm up: JIT compilation allocates, recordings must not
  const profiler = new GCProfiler();
  profiler.start();
  run();
  const result = profiler.stop();
  return result?.statistics.length ?? 0;
}

describe("hot path allocation", () => {
  it("bound counter add and histogram record trigger no GC over 5,000,000 calls", () => {
    const metrics = new TenantMetrics();
    metrics.counter("messages_sent");
    metrics.histogram("send_latency_ms");
    const ids = Array.from({ length: 1_000 }, () => randomUUID());
    const counters: CounterHandle[] = ids.map((id) => metrics.workspace(id)._unsafeUnwrap().counter("messages_sent"));
    const histograms: HistogramHandle[] = ids.map((id) => metrics.workspace(id)._unsafeUnwrap().histogram("send_latency_ms"));
    let failures = 0;
    const events = gcEventsDuring(() => {
      for (let i = 0; i < 5_000_000; i++) {
        if ((counters[i % 1_000] as CounterHandle).add(1).isErr()) failures++;
        if ((histograms[i % 1_000] as HistogramHandle).record(i % 300).isErr()) failures++;
      }
    });
    expect(failures).toBe(0);
    expect(events).toBe(0);
    expect(metrics.usage({ workspaceId: ids[0] ?? "" })._unsafeUnwrap().values.messages_sent).toBe(10_000);
  });

  it("calling workspace(id) per request, Dittofeed style, triggers no GC once the workspace is tracked", () => {
    const metrics = new TenantMetrics();
    metrics.counter("messages_sent");
    const ids = Array.from({ length: 1_000 }, () => randomUUID());
    let failures = 0;
    const events = gcEventsDuring(() => {
      for (let i = 0; i < 2_000_000; i++) {
        const ws = metrics.workspace(ids[i % 1_000] ?? "");
        if (ws.isErr() || ws.value.counter("messages_sent").add(1).isErr()) failures++;
      }
    });
    expect(failures).toBe(0);
    expect(events).toBe(0);
    expect(metrics.workspace(ids[0] ?? "")).toBe(metrics.workspace(ids[0] ?? ""));
  });

  it("the sink other modules report through triggers no GC over 5,000,000 calls", () => {
    const metrics = new TenantMetrics();
    const sink = metrics.sink();
    const ids = Array.from({ length: 1_000 }, () => parseWorkspaceId(randomUUID())._unsafeUnwrap());
    const events = gcEventsDuring(() => {
      for (let i = 0; i < 5_000_000; i++) sink.add(ids[i % 1_000] as WorkspaceId, "cache_hits_total", 1);
    });
    expect(sink.dropped()).toBe(0);
    expect(events).toBe(0);
  });

  it("the check itself can fail: an allocating loop does trigger GC", () => {
    const sink: unknown[] = [];
    const events = gcEventsDuring(() => {
      for (let i = 0; i < 5_000_000; i++) sink[i % 1_000] = { i };
    });
    expect(events).toBeGreaterThan(0);
  });
});
