import { collectMetric, type HistogramCollection, type HistogramPoint, type MetricCollection, type ScalarCollection, type ScalarPoint } from "./collect.js";
import type { WorkspaceSlots } from "./slots.js";
import { Column, HistogramStore, type MetricStore, type ScalarStore } from "./storage.js";
import { topSlots } from "./top-k.js";
import { OTHER } from "./types.js";

/**
 * The state behind `metrics.prometheus()`. Prometheus computes `rate()` and
 * `increase()` per series, so every exported counter series (counters and
 * histogram `_count`, `_bucket`) may only grow by increments that really
 * happened while they were attributed to it; a series that jumps by mass
 * moved in from elsewhere is a phantom increase, and one that drops is read
 * as a counter reset. Point-in-time top-K (what `collect()` returns) moves a
 * workspace's whole lifetime value into `__other__` when it retires or is
 * displaced, so counter families use the OpenTelemetry exporter's rule
 * instead (see SeriesFamily):
 *
 * - names are admitted by value until K are named, then kept for the life of
 *   the process (a series that ended would take its value out of the sum, and
 *   moving that value into `__other__` is the phantom increase);
 * - each named series accumulates only the increases of its workspace from the
 *   scrape before it was named on (a retired named workspace keeps its last
 *   value; if it comes back, it counts on from there);
 * - `__other__` is everything else: total − Σ named, so the series sum to the
 *   true total at every scrape, and it never decreases.
 *
 * Up-down counters and gauges are Prometheus gauges (levels, never rated), so
 * they keep the point-in-time top K by |value| from `collect()`.
 */
export class PrometheusExport {
  readonly #families = new Map<MetricStore, CounterFamily | HistogramFamily>();

  collect(stores: Iterable<MetricStore>, slots: WorkspaceSlots, k: number): MetricCollection[] {
    const out: MetricCollection[] = [];
    for (const store of stores) {
      let family = this.#families.get(store);
      if (!family) {
        if (store instanceof HistogramStore) family = new HistogramFamily(store);
        else if (store.descriptor.kind === "counter") family = new CounterFamily(store);
        else {
          out.push(collectMetric(store, slots, k));
          continue;
        }
        this.#families.set(store, family);
      }
      out.push(family.collect(slots, k));
    }
    return out;
  }
}

/** A counter's stable series. */
class CounterFamily {
  readonly #store: ScalarStore;
  /** Per slot: the value at the previous scrape (zeroed when the slot's workspace retires). */
  readonly #previous = new Column();
  /** Named workspace → its exported value. Insertion order is admission order; never shrinks past K. */
  readonly #named = new Map<string, number>();
  #other = 0;

  constructor(store: ScalarStore) {
    this.#store = store;
    store.attach(this.#previous);
  }

  collect(slots: WorkspaceSlots, k: number): ScalarCollection {
    const store = this.#store;
    const values = store.values;
    const previous = this.#previous.data;
    const n = slots.highWater;
    let total = store.retired;
    for (let slot = 0; slot < n; slot++) if (slots.ids[slot] !== undefined) total += values[slot] ?? 0;
    admit(this.#named, values, slots, k, () => 0);
    const series: ScalarPoint[] = [];
    let namedSum = 0;
    for (const [id, exported] of this.#named) {
      let value = exported;
      const slot = slots.find(id);
      if (slot >= 0) {
        // Whatever reached this slot since the last scrape: values only grow
        // in a slot until it retires, and retirement zeroes `previous` too.
        const increase = (values[slot] ?? 0) - (previous[slot] ?? 0);
        if (increase > 0) this.#named.set(id, (value += increase));
      }
      namedSum += value;
      series.push({ workspaceId: id, value, error: 0 });
    }
    for (let slot = 0; slot < n; slot++) previous[slot] = values[slot] ?? 0;
    // Σ named grew by at most what the total grew; max() only absorbs float rounding.
    const other = (this.#other = Math.max(this.#other, total - namedSum));
    series.sort(largestFirst);
    series.push({ workspaceId: OTHER, value: other, error: 0 });
    return { kind: "scalar", metric: store.descriptor, exact: store.errors === undefined, errorBound: 0, total: namedSum + other, series };
  }
}

interface NamedHistogram {
  count: number;
  sum: number;
  readonly buckets: Float64Array;
  /** The slot and generation the baselines below belong to (-1: not tracked at the last scrape). */
  slot: number;
  generation: number;
  lastCount: number;
  lastSum: number;
  readonly lastBuckets: Float64Array;
}

/** A histogram's stable series: `_count`, `_sum` and every `_bucket` follow the counter rule. */
class HistogramFamily {
  readonly #store: HistogramStore;
  /** Per slot: the count at the previous scrape. */
  readonly #previousCount = new Column();
  readonly #named = new Map<string, NamedHistogram>();
  #otherCount = 0;
  readonly #otherBuckets: Float64Array;

  constructor(store: HistogramStore) {
    this.#store = store;
    store.attach(this.#previousCount);
    this.#otherBuckets = new Float64Array(store.buckets);
  }

  collect(slots: WorkspaceSlots, k: number): HistogramCollection {
    const store = this.#store;
    const b = store.buckets;
    const n = slots.highWater;
    let totalCount = store.retiredCount;
    let totalSum = store.retiredSum;
    const totalBuckets = Float64Array.from(store.retiredCounts);
    for (let slot = 0; slot < n; slot++) {
      if (slots.ids[slot] === undefined) continue;
      totalCount += store.count[slot] ?? 0;
      totalSum += store.sum[slot] ?? 0;
      const base = slot * b;
      for (let i = 0; i < b; i++) totalBuckets[i] = (totalBuckets[i] ?? 0) + (store.counts[base + i] ?? 0);
    }
    admit(this.#named, store.count, slots, k, () => ({
      count: 0,
      sum: 0,
      buckets: new Float64Array(b),
      slot: -1,
      generation: 0,
      lastCount: 0,
      lastSum: 0,
      lastBuckets: new Float64Array(b),
    }));
    const previousCount = this.#previousCount.data;
    const series: HistogramPoint[] = [];
    let namedCount = 0;
    let namedSum = 0;
    const namedBuckets = new Float64Array(b);
    for (const [id, h] of this.#named) {
      const slot = slots.find(id);
      if (slot < 0) h.slot = -1;
      else {
        const generation = slots.generation[slot] ?? 0;
        const base = slot * b;
        if (h.slot !== slot || h.generation !== generation) {
          // The workspace holds this slot since the last scrape (first named, back after
          // retirement, or a Space-Saving newcomer). Buckets have no per-slot history, so
          // take all of the slot when it was empty at the last scrape, else start counting now.
          const empty = (previousCount[slot] ?? 0) === 0;
          h.slot = slot;
          h.generation = generation;
          h.lastCount = empty ? 0 : (store.count[slot] ?? 0);
          h.lastSum = empty ? 0 : (store.sum[slot] ?? 0);
          for (let i = 0; i < b; i++) h.lastBuckets[i] = empty ? 0 : (store.counts[base + i] ?? 0);
        }
        const count = store.count[slot] ?? 0;
        const sum = store.sum[slot] ?? 0;
        h.count += count - h.lastCount;
        h.sum += sum - h.lastSum;
        h.lastCount = count;
        h.lastSum = sum;
        for (let i = 0; i < b; i++) {
          const c = store.counts[base + i] ?? 0;
          h.buckets[i] = (h.buckets[i] ?? 0) + (c - (h.lastBuckets[i] ?? 0));
          h.lastBuckets[i] = c;
        }
      }
      namedCount += h.count;
      namedSum += h.sum;
      for (let i = 0; i < b; i++) namedBuckets[i] = (namedBuckets[i] ?? 0) + (h.buckets[i] ?? 0);
      series.push({ workspaceId: id, count: h.count, sum: h.sum, buckets: Array.from(h.buckets), error: 0 });
    }
    for (let slot = 0; slot < n; slot++) previousCount[slot] = store.count[slot] ?? 0;
    const otherCount = (this.#otherCount = Math.max(this.#otherCount, totalCount - namedCount));
    const otherBuckets: number[] = [];
    for (let i = 0; i < b; i++) {
      const v = Math.max(this.#otherBuckets[i] ?? 0, (totalBuckets[i] ?? 0) - (namedBuckets[i] ?? 0));
      this.#otherBuckets[i] = v;
      otherBuckets.push(v);
    }
    // `_sum` is not clamped: negative observations may lower it legitimately.
    const otherSum = totalSum - namedSum;
    series.sort((x, y) => y.count - x.count || (x.workspaceId < y.workspaceId ? -1 : 1));
    series.push({ workspaceId: OTHER, count: otherCount, sum: otherSum, buckets: otherBuckets, error: 0 });
    return {
      kind: "histogram",
      metric: store.descriptor,
      exact: store.errors === undefined,
      errorBound: 0,
      totalCount: namedCount + otherCount,
      totalSum,
      series,
    };
  }
}

/** While fewer than K are named, names the largest unnamed workspaces by current value. */
function admit<T>(named: Map<string, T>, values: Float64Array, slots: WorkspaceSlots, k: number, fresh: () => T): void {
  if (named.size >= k) return;
  for (const slot of topSlots(values, slots.ids, slots.highWater, k, false)) {
    const id = slots.ids[slot];
    if (id === undefined || named.has(id)) continue;
    named.set(id, fresh());
    if (named.size >= k) return;
  }
}

function largestFirst(a: ScalarPoint, b: ScalarPoint): number {
  return b.value - a.value || (a.workspaceId < b.workspaceId ? -1 : 1);
}
