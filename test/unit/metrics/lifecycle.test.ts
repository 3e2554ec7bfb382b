import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { TenantMetrics } from "../../../src/metrics/index.js";

function wid(): ReturnType<typeof parseWorkspaceId> extends { _unsafeUnwrap(): infer T } ? T : never {
  return parseWorkspaceId(randomUUID())._unsafeUnwrap();
}

describe("idle retirement", () => {
  it("retires workspaces idle for idleTtlMs, keeps active ones, and keeps totals exact", () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ idleTtlMs: 60_000, clock });
    metrics.counter("messages_sent");
    const idle = wid();
    const active = wid();
    metrics.add({ workspaceId: idle, metric: "messages_sent", value: 5 });
    const handle = metrics.workspace(active)._unsafeUnwrap().counter("messages_sent");
    for (let minute = 0; minute < 3; minute++) {
      handle.add(1);
      clock.advance(30_000);
      metrics.collect();
      handle.add(1);
      clock.advance(30_000);
      metrics.collect();
    }
    expect(metrics.usage({ workspaceId: idle })._unsafeUnwrap().tracked).toBe(false);
    expect(metrics.usage({ workspaceId: active })._unsafeUnwrap().values.messages_sent).toBe(6);
    expect(metrics.stats()).toMatchObject({ tracked: 1, retired: 1 });
    const [sent] = metrics.collect();
    expect(sent?.kind === "scalar" && sent.total).toBe(11);
    expect(sent?.series.at(-1)).toMatchObject({ workspaceId: "__other__", value: 5 });
  });

  it("a bound handle whose slot was retired re-binds instead of writing into the new owner", () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ maxWorkspaces: 1, idleTtlMs: 1_000, clock });
    metrics.counter("messages_sent");
    const a = wid();
    const b = wid();
    const handleA = metrics.workspace(a)._unsafeUnwrap().counter("messages_sent");
    handleA.add(1);
    // Collections (sweeps) run periodically, as an exporter's interval does.
    for (let i = 0; i < 6; i++) {
      clock.advance(300);
      metrics.sweep();
    }
    metrics.add({ workspaceId: b, metric: "messages_sent", value: 10 }); // full → sweep retires a → b takes the slot
    expect(metrics.stats().retired).toBe(1);
    handleA.add(2); // the only slot belongs to b now: a must not land in b's counter
    expect(metrics.usage({ workspaceId: b })._unsafeUnwrap().values.messages_sent ?? 0).toBeLessThanOrEqual(10);
    const usageA = metrics.usage({ workspaceId: a })._unsafeUnwrap();
    expect(usageA.values.messages_sent).toBeGreaterThanOrEqual(2);
    const [sent] = metrics.collect();
    expect(sent?.kind === "scalar" && sent.total).toBe(13);
  });

  it("many distinct workspaces flowing through: idle ones are retired, capacity is never exceeded", () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ maxWorkspaces: 1_000, idleTtlMs: 60_000, clock });
    metrics.counter("messages_sent");
    let total = 0;
    for (let i = 0; i < 50_000; i++) {
      metrics.add({ workspaceId: randomUUID(), metric: "messages_sent", value: 1 });
      total++;
      // 100 new workspaces per 10 s: the live set within the TTL (≈ 750) fits the 1,000 slots.
      // Collections run every 10 s, as an exporter's interval would.
      if (i % 100 === 0) {
        clock.advance(10_000);
        metrics.sweep();
      }
    }
    expect(metrics.slots.size).toBeLessThanOrEqual(1_000);
    expect(metrics.slots.allocated).toBeLessThanOrEqual(1_000);
    expect(metrics.stats().retired).toBeGreaterThan(48_000);
    expect(metrics.stats().replaced).toBe(0);
    const [sent] = metrics.collect();
    expect(sent?.kind === "scalar" && sent.total).toBe(total);
  });
});

describe("prometheus()", () => {
  it("renders K+1 series per metric with the single label workspace_id", () => {
    const metrics = new TenantMetrics({ topK: 2 });
    metrics.counter("messages_sent", { description: "messages sent", unit: "1" });
    metrics.gauge("queue_depth");
    metrics.histogram("send_latency_ms", { boundaries: [10, 100] });
    const ids = Array.from({ length: 5 }, () => wid());
    ids.forEach((id, i) => {
      metrics.add({ workspaceId: id, metric: "messages_sent", value: i + 1 });
      metrics.set({ workspaceId: id, metric: "queue_depth", value: i });
      metrics.observe({ workspaceId: id, metric: "send_latency_ms", value: i * 40 });
    });
    const text = metrics.prometheus();
    expect(text).toContain("# HELP messages_sent messages sent (unit: 1)\n# TYPE messages_sent counter\n");
    expect(text).toContain(`messages_sent{workspace_id="${ids[4]}"} 5\n`);
    expect(text).toContain(`messages_sent{workspace_id="__other__"} 6\n`);
    expect(text).toContain("# TYPE queue_depth gauge");
    expect(text).toContain(`send_latency_ms_bucket{workspace_id="__other__",le="+Inf"} 3\n`);
    const series = text.split("\n").filter((l) => l.startsWith("messages_sent{"));
    expect(series).toHaveLength(3);
    const labels = new Set([...text.matchAll(/[{,]([a-z_]+)="/g)].map((m) => m[1]));
    expect([...labels].sort()).toEqual(["le", "workspace_id"]);
    const sum = series.reduce((s, l) => s + Number(l.split(" ")[1]), 0);
    expect(sum).toBe(15);
  });
});

describe("sink()", () => {
  it("implements TenantMetricsSink: declares names on first use, never throws, drops bad input", () => {
    const metrics = new TenantMetrics();
    const sink = metrics.sink();
    const id = wid();
    sink.add(id, "cache_hits_total", 3);
    sink.add(id, "cache_hits_total", 2);
    sink.observe(id, "quota_check_ms", 1.5);
    expect(() => sink.add(id, "cache_hits_total", Number.NaN)).not.toThrow();
    expect(() => sink.add(id, "bad name!", 1)).not.toThrow();
    expect(() => sink.observe(id, "cache_hits_total", 1)).not.toThrow(); // wrong kind: dropped
    const usage = metrics.usage({ workspaceId: id })._unsafeUnwrap();
    expect(usage.values.cache_hits_total).toBe(5);
    expect(usage.histograms.quota_check_ms?.count).toBe(1);
    expect(sink.dropped()).toBe(3);
    // A sink typed as core's interface is what other modules receive.
    const asCore: import("../../../src/core/metrics-sink.js").TenantMetricsSink = sink;
    asCore.add(id, "cache_hits_total", 1);
    expect(metrics.usage({ workspaceId: id })._unsafeUnwrap().values.cache_hits_total).toBe(6);
  });
});
