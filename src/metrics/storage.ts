import { grown, type SlotListener } from "./slots.js";
import type { MetricDescriptor } from "./types.js";

/**
 * A per-slot number column that an exporter attaches to a metric (e.g. the
 * value at the previous collection). It grows with the slot table and is
 * zeroed when a slot's workspace is retired, so a new occupant starts clean.
 *
 * A baseline column (`follows` set) is an exporter's "value at the previous
 * collection" of one per-slot array: when the slot changes hands by
 * Space-Saving replacement, its entry moves to the slot's current value, so
 * the newcomer's increase counts from its arrival and the evicted holder's
 * increase since the last collection is nobody's named increase (it lands in
 * `__other__`). For a counter, up-down counter or gauge any `follows` value
 * means the store's `values`.
 */
export class Column {
  data: Float64Array = new Float64Array(0);

  constructor(readonly follows?: "values" | "count" | "sum") {}
}

/**
 * Values of one counter, up-down counter or gauge: one float per slot. The
 * hot path is `values[slot] += n`; everything else happens at collection.
 */
export class ScalarStore implements SlotListener {
  readonly descriptor: MetricDescriptor;
  values: Float64Array = new Float64Array(0);
  /** Space-Saving overestimate per slot; allocated on the first replacement only. */
  errors: Float64Array | undefined;
  /** Sum of workspaces retired for idleness, so totals stay exact. Gauges forget instead. */
  retired = 0;
  readonly columns: Column[] = [];

  constructor(descriptor: MetricDescriptor) {
    this.descriptor = descriptor;
  }

  attach(column: Column): void {
    column.data = new Float64Array(this.values.length);
    this.columns.push(column);
  }

  grow(size: number): void {
    this.values = grown(this.values, size);
    if (this.errors) this.errors = grown(this.errors, size);
    for (const column of this.columns) column.data = grown(column.data, size);
  }

  retire(slot: number): void {
    if (this.descriptor.kind !== "gauge") this.retired += this.values[slot] ?? 0;
    this.values[slot] = 0;
    if (this.errors) this.errors[slot] = 0;
    for (const column of this.columns) column.data[slot] = 0;
  }

  replace(slot: number): void {
    // Space-Saving: the newcomer inherits the evicted count, which becomes its
    // error bound. Mass is conserved, so totals and `__other__` stay exact.
    if (this.descriptor.kind === "gauge") this.values[slot] = 0;
    else {
      this.errors ??= new Float64Array(this.values.length);
      this.errors[slot] = this.values[slot] ?? 0;
    }
    for (const column of this.columns) if (column.follows !== undefined) column.data[slot] = this.values[slot] ?? 0;
  }

  /** The ranking key of a slot for top-K. */
  rank(slot: number): number {
    const v = this.values[slot] ?? 0;
    return this.descriptor.kind === "counter" ? v : Math.abs(v);
  }
}

const U32_MAX = 0xffff_ffff;

/**
 * One histogram: per slot a count, a sum and `boundaries.length + 1` bucket
 * counts. Bucket counts are 32-bit (saturating) to keep 100k workspaces
 * small; count and sum are floats.
 */
export class HistogramStore implements SlotListener {
  readonly descriptor: MetricDescriptor;
  readonly boundaries: Float64Array;
  readonly buckets: number;
  counts: Uint32Array = new Uint32Array(0);
  count: Float64Array = new Float64Array(0);
  sum: Float64Array = new Float64Array(0);
  errors: Float64Array | undefined;
  readonly retiredCounts: Float64Array;
  retiredCount = 0;
  retiredSum = 0;
  /**
   * True once any negative value was observed. Until then every `_sum` only
   * grows, so the Prometheus exporter may clamp float rounding in `__other__`.
   */
  negative = false;
  readonly columns: Column[] = [];

  constructor(descriptor: MetricDescriptor) {
    this.descriptor = descriptor;
    this.boundaries = Float64Array.from(descriptor.boundaries);
    this.buckets = descriptor.boundaries.length + 1;
    this.retiredCounts = new Float64Array(this.buckets);
  }

  attach(column: Column): void {
    column.data = new Float64Array(this.count.length);
    this.columns.push(column);
  }

  record(slot: number, value: number): void {
    const b = this.boundaries;
    let i = 0;
    while (i < b.length && value > (b[i] ?? 0)) i++;
    const at = slot * this.buckets + i;
    const c = this.counts[at] ?? 0;
    if (c < U32_MAX) this.counts[at] = c + 1;
    this.count[slot] = (this.count[slot] ?? 0) + 1;
    this.sum[slot] = (this.sum[slot] ?? 0) + value;
    if (value < 0) this.negative = true;
  }

  grow(size: number): void {
    this.counts = grown(this.counts, size * this.buckets);
    this.count = grown(this.count, size);
    this.sum = grown(this.sum, size);
    if (this.errors) this.errors = grown(this.errors, size);
    for (const column of this.columns) column.data = grown(column.data, size);
  }

  retire(slot: number): void {
    const base = slot * this.buckets;
    for (let i = 0; i < this.buckets; i++) {
      this.retiredCounts[i] = (this.retiredCounts[i] ?? 0) + (this.counts[base + i] ?? 0);
      this.counts[base + i] = 0;
    }
    this.retiredCount += this.count[slot] ?? 0;
    this.retiredSum += this.sum[slot] ?? 0;
    this.count[slot] = 0;
    this.sum[slot] = 0;
    if (this.errors) this.errors[slot] = 0;
    for (const column of this.columns) column.data[slot] = 0;
  }

  replace(slot: number): void {
    this.errors ??= new Float64Array(this.count.length);
    this.errors[slot] = this.count[slot] ?? 0;
    for (const column of this.columns) {
      if (column.follows === "sum") column.data[slot] = this.sum[slot] ?? 0;
      else if (column.follows !== undefined) column.data[slot] = this.count[slot] ?? 0;
    }
  }

  rank(slot: number): number {
    return this.count[slot] ?? 0;
  }

  bucketsOf(slot: number): number[] {
    return Array.from(this.counts.subarray(slot * this.buckets, (slot + 1) * this.buckets));
  }
}

export type MetricStore = ScalarStore | HistogramStore;
