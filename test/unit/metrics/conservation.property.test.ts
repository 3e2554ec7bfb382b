import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantMetrics, type ScalarCollection } from "../../../src/metrics/index.js";
import { exactTopK, uniformSampler, workspaceIds, zipfSampler } from "./workloads.js";

function scalar(metrics: TenantMetrics, name: string): ScalarCollection {
  const c = metrics.collect().find((x) => x.metric.name === name);
  if (c?.kind !== "scalar") throw new Error(`no scalar ${name}`);
  return c;
}

const workload = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  workspaces: fc.integer({ min: 1, max: 3_000 }),
  events: fc.integer({ min: 1, max: 20_000 }),
  k: fc.integer({ min: 1, max: 200 }),
  zipf: fc.boolean(),
  skew: fc.double({ min: 0.6, max: 1.6, noNaN: true }),
  // Small capacities force idle retirement and Space-Saving replacement.
  capacity: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 500 })),
  collectEvery: fc.integer({ min: 500, max: 20_000 }),
});

describe("conservation: exported series sum exactly to the true total", () => {
  it("holds for Zipf and uniform workloads, any K, any capacity, in every collection", () => {
    fc.assert(
      fc.property(workload, ({ seed, workspaces, events, k, zipf, skew, capacity, collectEvery }) => {
        const clock = new ManualClock();
        const metrics = new TenantMetrics({ topK: k, maxWorkspaces: capacity, idleTtlMs: 60_000, clock });
        metrics.counter("messages_sent");
        metrics.upDownCounter("active_journeys");
        metrics.histogram("latency_ms", { boundaries: [10, 100] });
        const ids = workspaceIds(workspaces, seed);
        const draw = zipf ? zipfSampler(workspaces, skew, seed + 1) : uniformSampler(workspaces, seed + 1);
        let sent = 0;
        let active = 0;
        let observations = 0;
        let previousOther = 0;
        for (let e = 1; e <= events; e++) {
          const id = ids[draw()] ?? "";
          const inc = 1 + (e % 7);
          metrics.add({ workspaceId: id, metric: "messages_sent", value: inc });
          metrics.add({ workspaceId: id, metric: "active_journeys", value: e % 3 === 0 ? -2 : 1 });
          metrics.observe({ workspaceId: id, metric: "latency_ms", value: e % 150 });
          sent += inc;
          active += e % 3 === 0 ? -2 : 1;
          observations++;
          if (e % collectEvery === 0 || e === events) {
            clock.advance(20_000); // lets idle retirement run during collections
            for (const c of metrics.collect()) {
              expect(c.series.length).toBeLessThanOrEqual(k + 1);
              expect(c.series.at(-1)?.workspaceId).toBe("__other__");
              if (c.kind === "scalar") {
                const sum = c.series.reduce((s, p) => s + p.value, 0);
                expect(sum).toBe(c.total);
                expect(c.total).toBe(c.metric.name === "messages_sent" ? sent : active);
                if (c.metric.name === "messages_sent") {
                  // For a counter ranked by value, S_K grows by at most the total's growth,
                  // so __other__ (total − S_K) never decreases: no false counter resets.
                  const other = c.series.at(-1)?.value ?? 0;
                  expect(other).toBeGreaterThanOrEqual(previousOther);
                  previousOther = other;
                }
              } else {
                expect(c.series.reduce((s, p) => s + p.count, 0)).toBe(observations);
                expect(c.totalCount).toBe(observations);
              }
            }
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("top-K matches the exact top-K on skewed workloads", () => {
  it("while every workspace is tracked exactly (values equal, order equal)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 30 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0.9, max: 1.5, noNaN: true }),
        (seed, k, skew) => {
          const metrics = new TenantMetrics({ topK: k });
          metrics.counter("messages_sent");
          const ids = workspaceIds(2_000, seed);
          const draw = zipfSampler(2_000, skew, seed);
          const truth = new Map<string, number>();
          for (let e = 0; e < 20_000; e++) {
            const id = ids[draw()] ?? "";
            metrics.add({ workspaceId: id, metric: "messages_sent", value: 1 });
            truth.set(id, (truth.get(id) ?? 0) + 1);
          }
          const exported = scalar(metrics, "messages_sent").series.slice(0, -1);
          const expected = exactTopK(truth, k);
          // Ties at the boundary may pick different members; values must match exactly.
          expect(exported.map((p) => p.value)).toEqual(expected.map((id) => truth.get(id)));
          for (const p of exported) expect(truth.get(p.workspaceId)).toBe(p.value);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("under Space-Saving (100,000 workspaces, 1,000 slots, Zipf 1.1): the true top-100 are all present, within the error bound", () => {
    const n = 100_000;
    const metrics = new TenantMetrics({ topK: 100, maxWorkspaces: 1_000, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    const ids = workspaceIds(n, 7);
    const draw = zipfSampler(n, 1.1, 8);
    const truth = new Map<string, number>();
    const events = 1_000_000;
    const handles = new Map<string, ReturnType<ReturnType<TenantMetrics["workspace"]>["_unsafeUnwrap"]>>();
    for (let e = 0; e < events; e++) {
      const id = ids[draw()] ?? "";
      let h = handles.get(id);
      if (!h) handles.set(id, (h = metrics.workspace(id)._unsafeUnwrap()));
      h.counter("messages_sent").add(1);
      truth.set(id, (truth.get(id) ?? 0) + 1);
    }
    const stats = metrics.stats();
    expect(stats.approximate).toBe(true);
    expect(stats.errorBound).toBeLessThanOrEqual(events / 1_000);
    const collection = scalar(metrics, "messages_sent");
    expect(collection.exact).toBe(false);
    expect(collection.total).toBe(events);
    const exported = new Map(collection.series.slice(0, -1).map((p) => [p.workspaceId, p]));
    for (const id of exactTopK(truth, 100)) {
      const point = exported.get(id);
      expect(point, `true top-100 workspace ${id} missing`).toBeDefined();
      const trueValue = truth.get(id) ?? 0;
      // Space-Saving never underestimates, and overestimates by at most the reported error.
      expect(point?.value).toBeGreaterThanOrEqual(trueValue);
      expect((point?.value ?? 0) - trueValue).toBeLessThanOrEqual(point?.error ?? 0);
      expect(point?.error ?? 0).toBeLessThanOrEqual(collection.errorBound);
    }
  });
});
