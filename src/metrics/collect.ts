import type { WorkspaceSlots } from "./slots.js";
import { HistogramStore, type MetricStore } from "./storage.js";
import { topSlots } from "./top-k.js";
import { OTHER, type MetricDescriptor } from "./types.js";

/** One exported series of a counter, up-down counter or gauge. */
export interface ScalarPoint {
  /** A workspace id, or `"__other__"`. */
  readonly workspaceId: string;
  readonly value: number;
  /** Space-Saving overestimate bound of `value` (0 when exact). */
  readonly error: number;
}

/** One exported series of a histogram. */
export interface HistogramPoint {
  readonly workspaceId: string;
  readonly count: number;
  readonly sum: number;
  /** Non-cumulative bucket counts, `boundaries.length + 1` of them. */
  readonly buckets: readonly number[];
  readonly error: number;
}

interface CollectionBase {
  readonly metric: MetricDescriptor;
  /** True when every exported value is exact (no Space-Saving replacement ever touched it). */
  readonly exact: boolean;
  /** The largest overestimate among exported workspace series (0 when exact). */
  readonly errorBound: number;
}

/**
 * A metric's bounded export: at most K workspace series, largest first, then
 * `__other__` carrying exactly everything else, so the series sum to `total`.
 */
export interface ScalarCollection extends CollectionBase {
  readonly kind: "scalar";
  readonly total: number;
  readonly series: readonly ScalarPoint[];
}

export interface HistogramCollection extends CollectionBase {
  readonly kind: "histogram";
  readonly totalCount: number;
  readonly totalSum: number;
  readonly series: readonly HistogramPoint[];
}

export type MetricCollection = ScalarCollection | HistogramCollection;

/** Builds the bounded export of one metric. */
export function collectMetric(store: MetricStore, slots: WorkspaceSlots, k: number): MetricCollection {
  return store instanceof HistogramStore ? collectHistogram(store, slots, k) : collectScalar(store, slots, k);
}

function collectScalar(store: Exclude<MetricStore, HistogramStore>, slots: WorkspaceSlots, k: number): ScalarCollection {
  const { values, errors } = store;
  const top = topSlots(values, slots.ids, slots.highWater, k, store.descriptor.kind !== "counter");
  const series: ScalarPoint[] = [];
  let errorBound = 0;
  let topSum = 0;
  const isTop = new Set(top);
  for (const slot of top) {
    const error = errors?.[slot] ?? 0;
    if (error > errorBound) errorBound = error;
    const value = values[slot] ?? 0;
    topSum += value;
    series.push({ workspaceId: slots.ids[slot] ?? OTHER, value, error });
  }
  // `__other__` is summed directly (not total − top) so no rounding creeps in
  // for integer values; retired workspaces' mass lives here too.
  let other = store.retired;
  for (let slot = 0; slot < slots.highWater; slot++) {
    if (slots.ids[slot] === undefined || isTop.has(slot)) continue;
    other += values[slot] ?? 0;
  }
  series.push({ workspaceId: OTHER, value: other, error: 0 });
  return { kind: "scalar", metric: store.descriptor, exact: errors === undefined, errorBound, total: topSum + other, series };
}

function collectHistogram(store: HistogramStore, slots: WorkspaceSlots, k: number): HistogramCollection {
  const top = topSlots(store.count, slots.ids, slots.highWater, k, false);
  const isTop = new Set(top);
  const series: HistogramPoint[] = [];
  let errorBound = 0;
  let totalCount = 0;
  let totalSum = 0;
  for (const slot of top) {
    const error = store.errors?.[slot] ?? 0;
    if (error > errorBound) errorBound = error;
    const count = store.count[slot] ?? 0;
    const sum = store.sum[slot] ?? 0;
    totalCount += count;
    totalSum += sum;
    series.push({ workspaceId: slots.ids[slot] ?? OTHER, count, sum, buckets: store.bucketsOf(slot), error });
  }
  const buckets = Array.from(store.retiredCounts);
  let count = store.retiredCount;
  let sum = store.retiredSum;
  for (let slot = 0; slot < slots.highWater; slot++) {
    if (slots.ids[slot] === undefined || isTop.has(slot)) continue;
    count += store.count[slot] ?? 0;
    sum += store.sum[slot] ?? 0;
    const base = slot * store.buckets;
    for (let i = 0; i < store.buckets; i++) buckets[i] = (buckets[i] ?? 0) + (store.counts[base + i] ?? 0);
  }
  series.push({ workspaceId: OTHER, count, sum, buckets, error: 0 });
  return {
    kind: "histogram",
    metric: store.descriptor,
    exact: store.errors === undefined,
    errorBound,
    totalCount: totalCount + count,
    totalSum: totalSum + sum,
    series,
  };
}
