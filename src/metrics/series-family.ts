import type { WorkspaceSlots } from "./slots.js";
import { Column, HistogramStore, type MetricStore } from "./storage.js";
import { topSlots } from "./top-k.js";
import { OTHER } from "./types.js";

/** How one exported OTel instrument reads its per-slot values. */
export interface FamilySource {
  /** Current per-slot values (cumulative for sums, current for gauges). */
  values(): Float64Array;
  /** Mass of retired workspaces (0 for gauges). */
  retired(): number;
  /**
   * Per-slot value at the previous collection: zeroed by retirement, moved to
   * the slot's current value when it changes hands (a baseline column).
   */
  readonly previous: Column;
  /** "sum": values accumulate (counter, up-down); "gauge": last value wins. */
  readonly mode: "sum" | "gauge";
  /** Rank by |value| (up-down counters and gauges) rather than value. */
  readonly absolute: boolean;
}

export type Temporality = "cumulative" | "delta";

/** The attributes of one observed series: always exactly `{ workspace_id }`. */
export type SeriesAttributes = { readonly workspace_id: string };

/**
 * One exported instrument's bounded view of a metric (an OTel observable, or
 * a series family in stable Prometheus output). It observes at
 * most K workspace series plus `__other__` per collection and keeps every
 * observed sum series monotonic in its own right, so the SDK's own delta
 * conversion never sees a drop:
 *
 * - each named workspace's series accumulates only the increases made while
 *   it was named; `__other__` accumulates every other increase (retired
 *   workspaces included, and an evicted workspace's increase since the last
 *   collection: a Space-Saving newcomer counts from its arrival), so the
 *   observed series always sum to the total;
 * - under **cumulative** temporality the SDK re-exports every attribute set it
 *   has ever seen (TemporalMetricProcessor merges forever), so names are
 *   admitted by value until K are taken and then kept; the series count can
 *   never pass K + 1;
 * - under **delta** temporality only observed sets are exported, so the named
 *   set is re-chosen every interval: the top K by increase in that interval.
 */
export class SeriesFamily<H> {
  readonly name: string;
  readonly kind: ExportedKind;
  readonly handle: H;
  readonly #source: FamilySource;
  readonly #k: number;
  readonly #temporality: Temporality;
  /**
   * Virtual cumulative value per workspace named at least once. Under delta
   * temporality this is not pruned when a workspace stops being named: the
   * OpenTelemetry JS SDK (1.x and 2.x, DeltaMetricProcessor) turns each
   * observation into a delta by diffing it against the last value observed
   * for the same attribute set, and keeps that memo forever. A workspace named
   * again later must continue from the value the SDK remembers, or its next
   * delta is wrong (an up-down counter's by the whole forgotten value, a
   * counter's whenever the new increase reaches it). The SDK's own memo holds
   * more per attribute set than this one number.
   */
  readonly #named = new Map<string, number>();
  /** Cumulative temporality: the admitted names (never leave). */
  readonly #sticky = new Set<string>();
  /** Attribute objects of the series observed in the last collection (a cache, pruned every collection under delta). */
  readonly #attributes = new Map<string, SeriesAttributes>();
  #other = 0;
  #lastTotal = 0;

  constructor(exported: Exported, handle: H, k: number, temporality: Temporality) {
    this.name = exported.name;
    this.kind = exported.kind;
    this.handle = handle;
    const source = exported.source;
    this.#source = source;
    this.#k = k;
    this.#temporality = temporality;
  }

  /** Computes this interval's series and hands each to `observe`. */
  collect(slots: WorkspaceSlots, observe: (handle: H, value: number, attributes: SeriesAttributes) => void): void {
    const current = this.#source.values();
    const previous = this.#source.previous.data;
    const n = slots.highWater;
    const gauge = this.#source.mode === "gauge";
    let total = this.#source.retired();
    const increase = new Float64Array(n);
    for (let slot = 0; slot < n; slot++) {
      if (slots.ids[slot] === undefined) continue;
      const v = current[slot] ?? 0;
      total += v;
      increase[slot] = v - (previous[slot] ?? 0);
    }
    const named = this.#chooseNames(slots, gauge ? current : increase, current);
    // Delta names rotate: drop cached attributes of workspaces no longer named.
    if (this.#temporality === "delta") this.#pruneAttributes(named);
    let namedSum = 0;
    for (const id of named) {
      const slot = slots.find(id);
      if (gauge) {
        const value = slot >= 0 ? (current[slot] ?? 0) : 0;
        namedSum += value;
        observe(this.handle, value, this.#attrs(id));
        continue;
      }
      const delta = slot >= 0 ? (increase[slot] ?? 0) : 0;
      namedSum += delta;
      const value = (this.#named.get(id) ?? 0) + delta;
      this.#named.set(id, value);
      observe(this.handle, value, this.#attrs(id));
    }
    if (gauge) {
      observe(this.handle, total - namedSum, this.#attrs(OTHER));
    } else {
      this.#other += total - this.#lastTotal - namedSum;
      observe(this.handle, this.#other, this.#attrs(OTHER));
    }
    for (let slot = 0; slot < n; slot++) previous[slot] = current[slot] ?? 0;
    this.#lastTotal = total;
  }

  #chooseNames(slots: WorkspaceSlots, interval: Float64Array, current: Float64Array): Iterable<string> {
    const absolute = this.#source.absolute;
    if (this.#temporality === "delta") {
      return topSlots(interval, slots.ids, slots.highWater, this.#k, absolute).map((slot) => slots.ids[slot] ?? OTHER);
    }
    const free = this.#k - this.#sticky.size;
    if (free > 0) {
      // Admit by value: the largest workspaces not yet named.
      const candidates = topSlots(current, slots.ids, slots.highWater, this.#k, absolute);
      let admitted = 0;
      for (const slot of candidates) {
        const id = slots.ids[slot];
        if (id === undefined || this.#sticky.has(id)) continue;
        this.#sticky.add(id);
        if (++admitted >= free) break;
      }
    }
    return this.#sticky;
  }

  #pruneAttributes(named: Iterable<string>): void {
    const keep = new Set(named);
    for (const id of this.#attributes.keys()) if (id !== OTHER && !keep.has(id)) this.#attributes.delete(id);
  }

  /** @internal How many entries the family keeps (for tests). */
  retained(): { readonly named: number; readonly attributes: number } {
    return { named: this.#named.size, attributes: this.#attributes.size };
  }

  #attrs(id: string): SeriesAttributes {
    let attributes = this.#attributes.get(id);
    if (!attributes) this.#attributes.set(id, (attributes = { workspace_id: id }));
    return attributes;
  }
}

export type ExportedKind = "counter" | "upDownCounter" | "gauge";

/** One exported instrument derived from a metric: its name, kind and source. */
export interface Exported {
  readonly name: string;
  readonly kind: ExportedKind;
  readonly source: FamilySource;
}

/**
 * The exported instruments of a metric: itself, or `<name>_count` (counter)
 * and `<name>_sum` (up-down counter) for a histogram. Attaches one
 * previous-value column per instrument to the store.
 */
export function exportedOf(store: MetricStore): Exported[] {
  const name = store.descriptor.name;
  if (store instanceof HistogramStore) {
    // Baseline columns: a Space-Saving newcomer counts from its arrival, not from the evicted holder's last collection.
    const count = new Column("count");
    const sum = new Column("sum");
    store.attach(count);
    store.attach(sum);
    return [
      {
        name: `${name}_count`,
        kind: "counter",
        source: { values: () => store.count, retired: () => store.retiredCount, previous: count, mode: "sum", absolute: false },
      },
      {
        name: `${name}_sum`,
        kind: "upDownCounter",
        source: { values: () => store.sum, retired: () => store.retiredSum, previous: sum, mode: "sum", absolute: true },
      },
    ];
  }
  const previous = new Column("values");
  store.attach(previous);
  const kind = store.descriptor.kind === "histogram" ? "counter" : store.descriptor.kind;
  return [
    {
      name,
      kind,
      source: {
        values: () => store.values,
        retired: () => store.retired,
        previous,
        mode: kind === "gauge" ? "gauge" : "sum",
        absolute: kind !== "counter",
      },
    },
  ];
}
