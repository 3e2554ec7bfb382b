import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { TenantMetrics } from "../../../src/metrics/index.js";
import { exportedOf, SeriesFamily } from "../../../src/metrics/series-family.js";
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
    series.set(id, Number(value));
  }
  return out;
}

const seriesOf = (scrape: Scrape, family: string, le?: string): Map<string, number> =>
  scrape.get(le === undefined ? family : `${family}{${le}}`) ?? new Map();

const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
const [A, B, C] = [id(1), id(2), id(3)];

describe("histogram _sum is monotonic while observations are non-negative", () => {
  it("__other__ _sum never falls from float rounding when only named workspaces record (the reviewer's sum2: 780 drops in 5,000 scrapes)", () => {
    const metrics = new TenantMetrics({ topK: 3, idleTtlMs: 0 });
    metrics.histogram("lat_s");
    for (let i = 0; i < 3; i++) for (let j = 0; j < 100; j++) metrics.observe({ workspaceId: id(i), metric: "lat_s", value: 1000 });
    for (let i = 3; i < 8; i++) metrics.observe({ workspaceId: id(i), metric: "lat_s", value: 0.3 });
    // The reviewer's generator (Park–Miller), which reproduced the drops.
    let seed = 7;
    const next = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
    const previous = new Map<string, number>();
    let drops = 0;
    for (let scrape = 0; scrape < 5_000; scrape++) {
      for (let j = 0; j < 5; j++) metrics.observe({ workspaceId: id(Math.floor(next() * 3)), metric: "lat_s", value: next() * 0.7 });
      for (const [ws, value] of seriesOf(parse(metrics.prometheus()), "lat_s_sum")) {
        if (value < (previous.get(ws) ?? -Infinity)) drops++;
        previous.set(ws, value);
      }
    }
    expect(drops).toBe(0);
    // Clamping only absorbs rounding: __other__ holds the five 0.3 observations.
    expect(previous.get("__other__")).toBeCloseTo(1.5, 9);
  });

  it("no _sum series falls under random float observations ≥ 0, retirement and Space-Saving (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 2 ** 30 }),
          workspaces: fc.integer({ min: 2, max: 200 }),
          k: fc.integer({ min: 1, max: 8 }),
          capacity: fc.integer({ min: 1, max: 80 }),
          scrapes: fc.integer({ min: 1, max: 300 }),
          perScrape: fc.integer({ min: 1, max: 30 }),
        }),
        ({ seed, workspaces, k, capacity, scrapes, perScrape }) => {
          const clock = new ManualClock();
          const metrics = new TenantMetrics({ topK: k, maxWorkspaces: capacity, idleTtlMs: 60_000, clock });
          metrics.histogram("lat_s");
          const ids = workspaceIds(workspaces, seed);
          const draw = zipfSampler(workspaces, 1.2, seed + 1);
          const next = rng(seed + 2);
          const last = new Map<string, number>();
          for (let scrape = 0; scrape < scrapes; scrape++) {
            for (let j = 0; j < perScrape; j++) metrics.observe({ workspaceId: ids[draw()] ?? "", metric: "lat_s", value: next() * 0.7 });
            clock.advance(5_000);
            for (const [ws, value] of seriesOf(parse(metrics.prometheus()), "lat_s_sum")) {
              const before = last.get(ws) ?? -Infinity;
              if (value < before) throw new Error(`scrape ${scrape}: lat_s_sum{${ws}} fell from ${before} to ${value}`);
              last.set(ws, value);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("after a negative observation _sum is a level again: __other__ follows it down", () => {
    const metrics = new TenantMetrics({ topK: 1, idleTtlMs: 0 });
    metrics.histogram("delta_s");
    metrics.observe({ workspaceId: A, metric: "delta_s", value: 5 });
    metrics.observe({ workspaceId: A, metric: "delta_s", value: 5 });
    metrics.observe({ workspaceId: B, metric: "delta_s", value: 3 });
    expect(seriesOf(parse(metrics.prometheus()), "delta_s_sum").get("__other__")).toBe(3);
    metrics.observe({ workspaceId: B, metric: "delta_s", value: -2 });
    expect(seriesOf(parse(metrics.prometheus()), "delta_s_sum").get("__other__")).toBe(1);
  });
});

describe("a Space-Saving newcomer does not absorb the evicted holder's increments since the last scrape", () => {
  it("counter: A's series grows by its own 1, not by B's 100 (the reviewer's ss.ts: 5 → 106)", () => {
    const metrics = new TenantMetrics({ topK: 1, maxWorkspaces: 2, idleTtlMs: 0 });
    metrics.counter("n");
    const add = (ws: string, value: number) => metrics.add({ workspaceId: ws, metric: "n", value })._unsafeUnwrap();
    add(A, 5);
    expect(seriesOf(parse(metrics.prometheus()), "n")).toEqual(new Map([[A, 5], ["__other__", 0]]));
    add(B, 100);
    add(C, 1000); // evicts A (5); C inherits it
    add(A, 1); // evicts B (100) and takes its slot
    expect(seriesOf(parse(metrics.prometheus()), "n")).toEqual(new Map([[A, 6], ["__other__", 1100]]));
  });

  it("histogram: _count, _sum and every bucket of A grow by its own observation only (the reviewer's ssh.ts)", () => {
    const metrics = new TenantMetrics({ topK: 1, maxWorkspaces: 2, idleTtlMs: 0 });
    metrics.counter("n");
    metrics.histogram("h", { boundaries: [1, 10] });
    const record = (ws: string, k: number, value: number) => {
      metrics.add({ workspaceId: ws, metric: "n", value: k })._unsafeUnwrap();
      for (let i = 0; i < k; i++) metrics.observe({ workspaceId: ws, metric: "h", value })._unsafeUnwrap();
    };
    record(A, 5, 1);
    parse(metrics.prometheus());
    record(B, 100, 5);
    record(C, 1000, 50);
    record(A, 1, 1);
    const scrape = parse(metrics.prometheus());
    expect(seriesOf(scrape, "h_count")).toEqual(new Map([[A, 6], ["__other__", 1100]]));
    expect(seriesOf(scrape, "h_sum")).toEqual(new Map([[A, 6], ["__other__", 50_500]]));
    expect(seriesOf(scrape, "h_bucket", "1")).toEqual(new Map([[A, 6], ["__other__", 0]]));
    expect(seriesOf(scrape, "h_bucket", "10")).toEqual(new Map([[A, 6], ["__other__", 100]]));
    expect(seriesOf(scrape, "h_bucket", "+Inf")).toEqual(new Map([[A, 6], ["__other__", 1100]]));
  });

  it("OpenTelemetry exporter (same rule): the named series grows by its own increments only", () => {
    const metrics = new TenantMetrics({ topK: 1, maxWorkspaces: 2, idleTtlMs: 0 });
    const store = metrics.store(metrics.counter("n").name);
    if (!store) throw new Error("no store");
    const [exported] = exportedOf(store);
    if (!exported) throw new Error("nothing exported");
    const family = new SeriesFamily(exported, {}, 1, "cumulative");
    const collect = () => {
      const seen = new Map<string, number>();
      family.collect(metrics.slots, (_handle, value, attributes) => seen.set(attributes.workspace_id, value));
      return seen;
    };
    const add = (ws: string, value: number) => metrics.add({ workspaceId: ws, metric: "n", value })._unsafeUnwrap();
    add(A, 5);
    expect(collect()).toEqual(new Map([[A, 5], ["__other__", 0]]));
    add(B, 100);
    add(C, 1000);
    add(A, 1);
    expect(collect()).toEqual(new Map([[A, 6], ["__other__", 1100]]));
  });

  const workload = fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
    workspaces: fc.integer({ min: 2, max: 300 }),
    events: fc.integer({ min: 1, max: 3_000 }),
    k: fc.integer({ min: 1, max: 8 }),
    zipf: fc.boolean(),
    capacity: fc.integer({ min: 1, max: 60 }),
    scrapeEvery: fc.integer({ min: 5, max: 300 }),
    idle: fc.boolean(),
  });

  it("every named series grows between scrapes by at most its workspace's true increments (property, Prometheus and OTel)", () => {
    fc.assert(
      fc.property(workload, ({ seed, workspaces, events, k, zipf, capacity, scrapeEvery, idle }) => {
        const clock = new ManualClock();
        const metrics = new TenantMetrics({ topK: k, maxWorkspaces: capacity, idleTtlMs: idle ? 60_000 : 0, clock });
        const counter = metrics.store(metrics.counter("messages_sent").name);
        metrics.histogram("latency_ms", { boundaries: [10, 100] });
        if (!counter) throw new Error("no store");
        const [exported] = exportedOf(counter);
        if (!exported) throw new Error("nothing exported");
        const otel = new SeriesFamily(exported, {}, k, "cumulative");
        const ids = workspaceIds(workspaces, seed);
        const draw = zipf ? zipfSampler(workspaces, 1.1, seed + 1) : uniformSampler(workspaces, seed + 1);
        const next = rng(seed + 2);
        const les = ["10", "100", "+Inf"];
        // Per workspace, increments since the previous scrape: sent, count, sum, buckets.
        type Interval = { sent: number; count: number; sum: number; le: number[] };
        let interval = new Map<string, Interval>();
        // Scrape once before any event, so the exporters see every handover.
        let previous = parse(metrics.prometheus());
        let previousOtel = new Map<string, number>();
        otel.collect(metrics.slots, () => undefined);
        for (let e = 1; e <= events; e++) {
          const ws = ids[draw()] ?? "";
          const inc = 1 + Math.floor(next() ** 3 * 1_000);
          const latency = Math.floor(next() * 150);
          metrics.add({ workspaceId: ws, metric: "messages_sent", value: inc });
          metrics.observe({ workspaceId: ws, metric: "latency_ms", value: latency });
          const t = interval.get(ws) ?? { sent: 0, count: 0, sum: 0, le: [0, 0, 0] };
          t.sent += inc;
          t.count++;
          t.sum += latency;
          if (latency <= 10) t.le[0] = (t.le[0] ?? 0) + 1;
          if (latency <= 100) t.le[1] = (t.le[1] ?? 0) + 1;
          t.le[2] = (t.le[2] ?? 0) + 1;
          interval.set(ws, t);
          if (e % scrapeEvery !== 0 && e !== events) continue;
          clock.advance(20_000);
          const scrape = parse(metrics.prometheus());
          const otelNow = new Map<string, number>();
          otel.collect(metrics.slots, (_h, value, attributes) => otelNow.set(attributes.workspace_id, value));
          const checks: [string, Map<string, number>, Map<string, number>, (t: Interval) => number][] = [
            ["messages_sent", seriesOf(previous, "messages_sent"), seriesOf(scrape, "messages_sent"), (t) => t.sent],
            ["otel messages_sent", previousOtel, otelNow, (t) => t.sent],
            ["latency_ms_count", seriesOf(previous, "latency_ms_count"), seriesOf(scrape, "latency_ms_count"), (t) => t.count],
            ["latency_ms_sum", seriesOf(previous, "latency_ms_sum"), seriesOf(scrape, "latency_ms_sum"), (t) => t.sum],
            ...les.map((le, i): [string, Map<string, number>, Map<string, number>, (t: Interval) => number] => [
              `latency_ms_bucket{le=${le}}`,
              seriesOf(previous, "latency_ms_bucket", le),
              seriesOf(scrape, "latency_ms_bucket", le),
              (t) => t.le[i] ?? 0,
            ]),
          ];
          for (const [label, before, now, own] of checks) {
            for (const [ws, value] of now) {
              if (ws === "__other__") continue;
              const grew = value - (before.get(ws) ?? 0);
              const real = own(interval.get(ws) ?? { sent: 0, count: 0, sum: 0, le: [0, 0, 0] });
              if (grew > real) throw new Error(`${label} at event ${e}: ${ws} grew by ${grew}, its own increments were ${real}`);
            }
          }
          previous = scrape;
          previousOtel = otelNow;
          interval = new Map();
        }
      }),
      { numRuns: 80 },
    );
  });
});

describe("Space-Saving ranks only by values that never fall", () => {
  it("refuses an up-down counter or gauge as rankBy (the reviewer's g.ts evicted a slot above the minimum)", () => {
    expect(() => new TenantMetrics({ rankBy: "open" }).upDownCounter("open")).toThrow(TypeError);
    expect(() => new TenantMetrics({ rankBy: "depth" }).gauge("depth")).toThrow(/must be a counter or a histogram/);
    const metrics = new TenantMetrics({ rankBy: "lat" });
    metrics.histogram("lat");
    expect(metrics.metrics().map((m) => m.name)).toEqual(["lat"]);
  });

  it("by default ranks by the first counter, else the first histogram's count, never a gauge declared first", () => {
    const metrics = new TenantMetrics({ maxWorkspaces: 2, idleTtlMs: 0 });
    metrics.gauge("queue_depth");
    metrics.histogram("latency_ms");
    for (let i = 0; i < 5; i++) metrics.observe({ workspaceId: A, metric: "latency_ms", value: 1 });
    metrics.set({ workspaceId: A, metric: "queue_depth", value: 0 });
    metrics.observe({ workspaceId: B, metric: "latency_ms", value: 1 });
    metrics.set({ workspaceId: B, metric: "queue_depth", value: 100 });
    metrics.observe({ workspaceId: C, metric: "latency_ms", value: 1 });
    // B holds the smallest count (1): it is the victim, and A keeps its exact 5.
    expect(metrics.usage({ workspaceId: B })._unsafeUnwrap().tracked).toBe(false);
    expect(metrics.usage({ workspaceId: A })._unsafeUnwrap()).toMatchObject({ tracked: true, histograms: { latency_ms: { count: 5 } } });
    expect(metrics.usage({ workspaceId: C })._unsafeUnwrap().histograms.latency_ms?.count).toBe(2);
  });

  it("with no counter or histogram, the victim is the least recently recorded workspace, not an up-down counter's smallest value", () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ maxWorkspaces: 3, idleTtlMs: 4_000_000, clock });
    metrics.upDownCounter("open");
    const add = (ws: string, value: number) => metrics.add({ workspaceId: ws, metric: "open", value })._unsafeUnwrap();
    add(id(1), 1);
    add(id(2), 5);
    add(id(3), 9);
    clock.advance(1_000_000); // one idle epoch (a quarter of the TTL): nothing retires
    expect(metrics.sweep()).toBe(0);
    add(id(1), 0);
    add(id(3), -9); // id(3) falls to 0, but was recorded in this epoch
    add(id(4), 1); // id(2) was recorded least recently: it goes
    expect(metrics.usage({ workspaceId: id(2) })._unsafeUnwrap().tracked).toBe(false);
    expect(metrics.usage({ workspaceId: id(3) })._unsafeUnwrap().tracked).toBe(true);
    expect(metrics.usage({ workspaceId: id(4) })._unsafeUnwrap().values.open).toBe(6);
  });
});

describe("the sink's budget of 256 declared names", () => {
  it("names refused for colliding do not use it up", () => {
    const metrics = new TenantMetrics();
    for (let i = 0; i < 100; i++) metrics.histogram(`h${i}`);
    const sink = metrics.sink();
    const a = parseWorkspaceId(A)._unsafeUnwrap();
    // 300 distinct colliding names, each refused (and counted as dropped).
    for (let i = 0; i < 100; i++) for (const suffix of ["_count", "_sum", "_bucket"]) sink.add(a, `h${i}${suffix}`, 1);
    expect(sink.dropped()).toBe(300);
    sink.add(a, "messages_sent", 1);
    expect(sink.dropped()).toBe(300);
    expect(metrics.usage({ workspaceId: A })._unsafeUnwrap().values.messages_sent).toBe(1);
  });
});
