import type { WorkspaceId } from "../core/workspace-id.js";
import {
  BoundCounter,
  BoundGauge,
  BoundHistogram,
  BoundUpDownCounter,
  MissingInstrument,
  type RecordResult,
  type SlotOwner,
} from "./handles.js";
import { HistogramStore, type MetricStore } from "./storage.js";
import type { MetricKind } from "./types.js";

/** A counter or up-down counter bound to a workspace. */
export interface CounterHandle {
  add(value: number): RecordResult;
}
export interface GaugeHandle {
  set(value: number): RecordResult;
}
export interface HistogramHandle {
  record(value: number): RecordResult;
}

/**
 * `metrics.workspace(id)`: every instrument pre-bound to one workspace. Bound
 * instruments are made once per name and cached, so
 * `handle.counter("messages_sent").add(1)` costs a Map lookup and an array
 * add; keep `handle.counter("messages_sent")` in a variable to drop the
 * lookup too.
 */
export class WorkspaceMetrics {
  readonly workspaceId: WorkspaceId;
  readonly #owner: SlotOwner;
  readonly #stores: ReadonlyMap<string, MetricStore>;
  /**
   * Bound instruments by kind, then name: a name asked for as another kind than
   * it was declared must miss (and get a MissingInstrument), not return the
   * instrument bound for its own kind.
   */
  readonly #bound: Readonly<Record<MetricKind, Map<string, CounterHandle | GaugeHandle | HistogramHandle>>> = {
    counter: new Map(),
    upDownCounter: new Map(),
    gauge: new Map(),
    histogram: new Map(),
  };

  constructor(owner: SlotOwner, stores: ReadonlyMap<string, MetricStore>, workspaceId: WorkspaceId) {
    this.#owner = owner;
    this.#stores = stores;
    this.workspaceId = workspaceId;
  }

  counter(name: string): CounterHandle {
    return this.#get(name, "counter") as CounterHandle;
  }

  upDownCounter(name: string): CounterHandle {
    return this.#get(name, "upDownCounter") as CounterHandle;
  }

  gauge(name: string): GaugeHandle {
    return this.#get(name, "gauge") as GaugeHandle;
  }

  histogram(name: string): HistogramHandle {
    return this.#get(name, "histogram") as HistogramHandle;
  }

  #get(name: string, kind: MetricKind): CounterHandle | GaugeHandle | HistogramHandle {
    const bound = this.#bound[kind];
    const cached = bound.get(name);
    if (cached !== undefined) return cached;
    const store = this.#stores.get(name);
    // Unknown names are not cached: the metric may be declared later.
    if (store === undefined) return new MissingInstrument(name);
    if (store.descriptor.kind !== kind) return new MissingInstrument(name, kind, store.descriptor.kind);
    const instrument = bind(this.#owner, this.workspaceId, store);
    bound.set(name, instrument);
    return instrument;
  }
}

function bind(owner: SlotOwner, id: WorkspaceId, store: MetricStore): CounterHandle | GaugeHandle | HistogramHandle {
  if (store instanceof HistogramStore) return new BoundHistogram(owner, id, store);
  switch (store.descriptor.kind) {
    case "counter":
      return new BoundCounter(owner, id, store);
    case "upDownCounter":
      return new BoundUpDownCounter(owner, id, store);
    default:
      return new BoundGauge(owner, id, store);
  }
}
