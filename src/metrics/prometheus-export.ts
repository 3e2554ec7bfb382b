import { collectMetric, type HistogramCollection, type HistogramPoint, type MetricCollection, type ScalarCollection, type ScalarPoint } from "./collect.js";
import type { SlotListener, WorkspaceSlots } from "./slots.js";
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
 * - a Space-Saving newcomer counts from its arrival: the slot's baselines move
 *   to its values at the handover, so the evicted holder's increase since the
 *   last scrape goes to `__other__`, not to the newcomer's named series;
 * - `__other__` is everything else: total − Σ named, so the series sum to the
 *   true total at every scrape, and it never decreases (a histogram's `_sum`:
 *   while no negative value was observed; float rounding is clamped).
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
        if (store instanceof HistogramStore) {
          const histogram = new HistogramFamily(store, k);
          slots.listen(histogram);
          family = histogram;
        } else if (store.descriptor.kind === "counter") family = new CounterFamily(store);
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
  /**
   * Per slot: the value at the previous scrape, zeroed when the slot's
   * workspace retires and moved to the slot's current value when it changes
   * hands (a baseline column), so a Space-Saving newcomer counts from its arrival.
   */
  readonly #previous = new Column("values");
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
        // What this workspace added since the last scrape or since it took the
        // slot: values only grow in a slot, and both retirement and
        // replacement move `previous` along with the slot's owner.
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

/** A slot's count, sum and buckets when it changed hands (Space-Saving) since the last scrape. */
interface Handover {
  count: number;
  sum: number;
  readonly buckets: Float64Array;
}

/**
 * A histogram's stable series: `_count`, `_sum` and every `_bucket` follow
 * the counter rule. It listens to the slot table so that a Space-Saving
 * newcomer that is, or may become, named counts from its arrival: the slot's
 * values at the handover are its baselines (the evicted holder's increase
 * since the last scrape goes to `__other__`).
 */
class HistogramFamily implements SlotListener {
  readonly #store: HistogramStore;
  readonly #k: number;
  /** Per slot: the count at the previous scrape, or at the slot's handover since (a baseline column). */
  readonly #previousCount = new Column("count");
  readonly #named = new Map<string, NamedHistogram>();
  /**
   * Slot → its values at its last handover since the previous scrape, kept
   * only when the newcomer is named or may still be admitted (fewer than K
   * named) and the slot held observations; cleared every scrape.
   */
  readonly #handovers = new Map<number, Handover>();
  readonly #spare: Handover[] = [];
  #otherCount = 0;
  #otherSum = 0;
  readonly #otherBuckets: Float64Array;

  constructor(store: HistogramStore, k: number) {
    this.#store = store;
    this.#k = k;
    store.attach(this.#previousCount);
    this.#otherBuckets = new Float64Array(store.buckets);
  }

  /** @internal SlotListener: nothing per slot to grow (the baseline column grows with the store). */
  grow(): void {}

  /** @internal SlotListener: a retired slot restarts from zero (the store zeroes the baseline column). */
  retire(slot: number): void {
    this.#release(slot);
  }

  /** @internal SlotListener: the slot passes to `id`; remember its values when they can matter. */
  replace(slot: number, id: string): void {
    const store = this.#store;
    const count = store.count[slot] ?? 0;
    // An empty slot needs no record: its baseline is zero, and the baseline column says so.
    if (count === 0 || (this.#named.size >= this.#k && !this.#named.has(id))) {
      this.#release(slot);
      return;
    }
    let handover = this.#handovers.get(slot);
    if (!handover) {
      handover = this.#spare.pop() ?? { count: 0, sum: 0, buckets: new Float64Array(store.buckets) };
      this.#handovers.set(slot, handover);
    }
    handover.count = count;
    handover.sum = store.sum[slot] ?? 0;
    const base = slot * store.buckets;
    for (let i = 0; i < store.buckets; i++) handover.buckets[i] = store.counts[base + i] ?? 0;
  }

  #release(slot: number): void {
    const handover = this.#handovers.get(slot);
    if (!handover) return;
    this.#handovers.delete(slot);
    this.#spare.push(handover);
  }

  collect(slots: WorkspaceSlots, k: number): HistogramCollection {
    const store = this.#store;
    const b = store.buckets;
    const n = slots.highWater;
    // Until a negative value is observed every `_sum` only grows: clamp float rounding.
    const monotonicSum = !store.negative;
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
          // retirement, or a Space-Saving newcomer). Its baselines: the slot's values when
          // it took it over (recorded at the handover), zero when the slot held no
          // observation at the last scrape or handover, else the current values (buckets
          // have no per-slot history: its increase so far goes to `__other__`).
          const handover = this.#handovers.get(slot);
          const empty = (previousCount[slot] ?? 0) === 0;
          h.slot = slot;
          h.generation = generation;
          if (handover) {
            h.lastCount = handover.count;
            h.lastSum = handover.sum;
            h.lastBuckets.set(handover.buckets);
          } else {
            h.lastCount = empty ? 0 : (store.count[slot] ?? 0);
            h.lastSum = empty ? 0 : (store.sum[slot] ?? 0);
            for (let i = 0; i < b; i++) h.lastBuckets[i] = empty ? 0 : (store.counts[base + i] ?? 0);
          }
        }
        const count = store.count[slot] ?? 0;
        const sum = store.sum[slot] ?? 0;
        h.count += count - h.lastCount;
        const sumIncrease = sum - h.lastSum;
        // Never negative without negative observations; the guard keeps `_sum` monotonic regardless.
        if (!monotonicSum || sumIncrease > 0) h.sum += sumIncrease;
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
    for (const slot of this.#handovers.keys()) this.#release(slot);
    const otherCount = (this.#otherCount = Math.max(this.#otherCount, totalCount - namedCount));
    const otherBuckets: number[] = [];
    for (let i = 0; i < b; i++) {
      const v = Math.max(this.#otherBuckets[i] ?? 0, (totalBuckets[i] ?? 0) - (namedBuckets[i] ?? 0));
      this.#otherBuckets[i] = v;
      otherBuckets.push(v);
    }
    // total − Σ named wobbles by float rounding (the two sums round differently). Without
    // negative observations the true value never falls, so a drop is rounding and is clamped
    // (a drop would read as a counter reset). Negative observations may lower it for real.
    const otherSum = (this.#otherSum = monotonicSum ? Math.max(this.#otherSum, totalSum - namedSum) : totalSum - namedSum);
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
