import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantMetrics } from "../../../src/metrics/index.js";
import { rng, uniformSampler, workspaceIds, zipfSampler } from "./workloads.js";

/** One scrape: `family` or `family{le}` → workspace_id → value. */
type Scrape = Map<string, Map<string, number>>;

function parse(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_][a-zA-Z0-9_]*)\{workspace_id="([^"]*)"(?:,le="([^"]*)")?\} (.+)$/.exec(line);
    if (!match) throw new Error(`unparsable line ${line}`);
    const [, family = "", id = "", le, value = ""] = match;
    const group = le === undefined ? family : `${family}{${le}}`;
    let series = out.get(group);
    if (!series) out.set(group, (series = new Map()));
    if (series.has(id)) throw new Error(`duplicate series ${line}`);
    series.set(id, Number(value));
  }
  return out;
}

/** Series of one family (and one `le`, for buckets). */
function seriesOf(scrape: Scrape, family: string, le?: string): Map<string, number> {
  return scrape.get(le === undefined ? family : `${family}{${le}}`) ?? new Map();
}

const total = (series: Map<string, number>) => [...series.values()].reduce((a, b) => a + b, 0);

/**
 * What PromQL's increase() sums to across a family between two scrapes: per
 * series, the change (a series that appears counts from 0). Asserts along the
 * way that no counter series went down (a false reset) or vanished.
 */
function increases(previous: Map<string, number>, current: Map<string, number>, label: string): number {
  let sum = 0;
  for (const [id, before] of previous) {
    const now = current.get(id);
    if (now === undefined) throw new Error(`${label}: series ${id} vanished`);
    if (now < before) throw new Error(`${label}: series ${id} went down from ${before} to ${now} (false counter reset)`);
  }
  for (const [id, now] of current) sum += now - (previous.get(id) ?? 0);
  return sum;
}

const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
const B = "c9f0f895-fb98-4b91-8a3e-5f6a7b8c9d03";
const C = "d3d94468-02a4-4b4d-9f3e-1c2d3e4f5a06";

describe("Prometheus counter series only grow by increments attributed to them", () => {
  it("a retired top-K workspace does not move its lifetime value into __other__ (the phantom 999,986)", () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ topK: 1, idleTtlMs: 60_000, clock });
    metrics.counter("messages_sent");
    metrics.add({ workspaceId: A, metric: "messages_sent", value: 1_000_000 });
    metrics.add({ workspaceId: B, metric: "messages_sent", value: 10 });
    metrics.add({ workspaceId: C, metric: "messages_sent", value: 4 });
    let before = seriesOf(parse(metrics.prometheus()), "messages_sent");
    expect(before).toEqual(new Map([[A, 1_000_000], ["__other__", 14]]));
    // A goes idle; B and C stay alive (zero increments touch without counting) until A retires.
    for (let i = 0; i < 6; i++) {
      clock.advance(15_000);
      metrics.add({ workspaceId: B, metric: "messages_sent", value: 0 });
      metrics.add({ workspaceId: C, metric: "messages_sent", value: 0 });
      const now = seriesOf(parse(metrics.prometheus()), "messages_sent");
      expect(increases(before, now, "idle")).toBe(0);
      before = now;
    }
    expect(metrics.usage({ workspaceId: A })._unsafeUnwrap().tracked).toBe(false);
    metrics.add({ workspaceId: B, metric: "messages_sent", value: 1 }); // the one real event
    const after = seriesOf(parse(metrics.prometheus()), "messages_sent");
    expect(increases(before, after, "after retirement")).toBe(1);
    expect(after.get("__other__")).toBe(15);
    expect(after.get(A)).toBe(1_000_000);
    expect(total(after)).toBe(1_000_015);
  });

  it("a workspace flapping in and out of the top K is not double-counted", () => {
    const metrics = new TenantMetrics({ topK: 1, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    let real = 0;
    const add = (id: string, value: number) => {
      metrics.add({ workspaceId: id, metric: "messages_sent", value });
      real += value;
    };
    add(A, 10);
    add(B, 5);
    let previous = seriesOf(parse(metrics.prometheus()), "messages_sent");
    let lastReal = real;
    for (let round = 0; round < 20; round++) {
      // Whoever is behind overtakes: the point-in-time top 1 changes every scrape.
      const usageA = metrics.usage({ workspaceId: A })._unsafeUnwrap().values.messages_sent ?? 0;
      const usageB = metrics.usage({ workspaceId: B })._unsafeUnwrap().values.messages_sent ?? 0;
      if (usageA <= usageB) add(A, usageB - usageA + 3);
      else add(B, usageA - usageB + 3);
      const current = seriesOf(parse(metrics.prometheus()), "messages_sent");
      expect(increases(previous, current, `round ${round}`)).toBe(real - lastReal);
      expect(total(current)).toBe(real);
      expect(current.size).toBeLessThanOrEqual(2);
      previous = current;
      lastReal = real;
    }
  });

  it("while fewer than K workspaces exist, named series are their exact totals from the first scrape", () => {
    const metrics = new TenantMetrics({ topK: 5 });
    metrics.counter("messages_sent");
    metrics.add({ workspaceId: A, metric: "messages_sent", value: 7 });
    metrics.add({ workspaceId: B, metric: "messages_sent", value: 3 });
    expect(seriesOf(parse(metrics.prometheus()), "messages_sent")).toEqual(new Map([[A, 7], [B, 3], ["__other__", 0]]));
    metrics.add({ workspaceId: C, metric: "messages_sent", value: 2 });
    metrics.add({ workspaceId: A, metric: "messages_sent", value: 1 });
    expect(seriesOf(parse(metrics.prometheus()), "messages_sent")).toEqual(new Map([[A, 8], [B, 3], [C, 2], ["__other__", 0]]));
  });

  it("up-down counters and gauges stay point-in-time levels", () => {
    const metrics = new TenantMetrics({ topK: 1 });
    metrics.upDownCounter("active_journeys");
    metrics.add({ workspaceId: A, metric: "active_journeys", value: 5 });
    metrics.add({ workspaceId: B, metric: "active_journeys", value: 2 });
    expect(seriesOf(parse(metrics.prometheus()), "active_journeys")).toEqual(new Map([[A, 5], ["__other__", 2]]));
    metrics.add({ workspaceId: B, metric: "active_journeys", value: 7 });
    expect(seriesOf(parse(metrics.prometheus()), "active_journeys")).toEqual(new Map([[B, 9], ["__other__", 5]]));
  });
});

const workload = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  workspaces: fc.integer({ min: 1, max: 400 }),
  events: fc.integer({ min: 1, max: 3_000 }),
  k: fc.integer({ min: 1, max: 12 }),
  zipf: fc.boolean(),
  // Small capacities force idle retirement and Space-Saving replacement.
  capacity: fc.oneof(fc.constant(100_000), fc.integer({ min: 1, max: 150 })),
  scrapeEvery: fc.integer({ min: 10, max: 400 }),
  idleAfter: fc.integer({ min: 0, max: 3 }),
});

describe("Prometheus scrape sequences (property)", () => {
  it("every counter series is monotonic, never vanishes, ≤ K + 1 per family; sums equal the truth and increases equal the real increments", () => {
    fc.assert(
      fc.property(workload, ({ seed, workspaces, events, k, zipf, capacity, scrapeEvery, idleAfter }) => {
        const clock = new ManualClock();
        const metrics = new TenantMetrics({ topK: k, maxWorkspaces: capacity, idleTtlMs: 60_000, clock });
        metrics.counter("messages_sent");
        const boundaries = [10, 100];
        metrics.histogram("latency_ms", { boundaries });
        const ids = workspaceIds(workspaces, seed);
        const draw = zipf ? zipfSampler(workspaces, 1.1, seed + 1) : uniformSampler(workspaces, seed + 1);
        const next = rng(seed + 2);
        const les = ["10", "100", "+Inf"];
        const truth = { sent: 0, count: 0, sum: 0, le: [0, 0, 0] };
        let last = { sent: 0, count: 0, sum: 0, le: [0, 0, 0] };
        let previous: Scrape | undefined;
        // Phases of activity over part of the id space, so named workspaces really go idle and retire.
        for (let e = 1; e <= events; e++) {
          const phase = Math.floor(e / 500) % (idleAfter + 1);
          const index = (draw() + phase * Math.ceil(workspaces / (idleAfter + 1))) % workspaces;
          const id = ids[index] ?? "";
          const inc = 1 + Math.floor(next() ** 3 * 1_000);
          metrics.add({ workspaceId: id, metric: "messages_sent", value: inc });
          const latency = Math.floor(next() * 150);
          metrics.observe({ workspaceId: id, metric: "latency_ms", value: latency });
          truth.sent += inc;
          truth.count++;
          truth.sum += latency;
          for (let i = 0; i < les.length; i++) if (i === les.length - 1 || latency <= (boundaries[i] ?? 0)) truth.le[i] = (truth.le[i] ?? 0) + 1;
          if (e % scrapeEvery !== 0 && e !== events) continue;
          clock.advance(20_000);
          const scrape = parse(metrics.prometheus());
          const families: [string, string | undefined, number, number][] = [
            ["messages_sent", undefined, truth.sent, last.sent],
            ["latency_ms_count", undefined, truth.count, last.count],
            ["latency_ms_sum", undefined, truth.sum, last.sum],
            ...les.map((le, i): [string, string | undefined, number, number] => ["latency_ms_bucket", le, truth.le[i] ?? 0, last.le[i] ?? 0]),
          ];
          for (const [family, le, now, before] of families) {
            const current = seriesOf(scrape, family, le);
            const label = `${family}${le ? `{le=${le}}` : ""} at event ${e}`;
            if (current.size > k + 1 || !current.has("__other__")) throw new Error(`${label}: ${current.size} series, K = ${k}`);
            if (total(current) !== now) throw new Error(`${label}: series sum ${total(current)}, true total ${now}`);
            const increase = previous ? increases(seriesOf(previous, family, le), current, label) : now;
            if (increase !== now - before) throw new Error(`${label}: sum of increases ${increase}, real increments ${now - before}`);
          }
          // Each histogram series stays self-consistent: _count equals the +Inf bucket.
          const counts = seriesOf(scrape, "latency_ms_count");
          for (const [id, value] of seriesOf(scrape, "latency_ms_bucket", "+Inf")) {
            if (counts.get(id) !== value) throw new Error(`series ${id}: _count ${counts.get(id)} ≠ +Inf bucket ${value}`);
          }
          previous = scrape;
          last = { sent: truth.sent, count: truth.count, sum: truth.sum, le: [...truth.le] };
        }
      }),
      { numRuns: 60 },
    );
  });
});
