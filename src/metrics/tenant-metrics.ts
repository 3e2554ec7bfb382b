import { err, ok, type Result } from "neverthrow";
import type { InvalidWorkspaceIdError } from "../core/errors.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { collectMetric, type MetricCollection } from "./collect.js";
import { HISTOGRAM_SUFFIXES, invalidValue, MetricNameCollisionError, unknownMetric, type RecordError } from "./errors.js";
import { RECORDED, type SlotOwner } from "./handles.js";
import { checkMetricName, resolveOptions, type ResolvedOptions, type TenantMetricsOptions } from "./options.js";
import { renderPrometheus } from "./prometheus.js";
import { PrometheusExport } from "./prometheus-export.js";
import { metricsSink, type CountingMetricsSink } from "./sink.js";
import { WorkspaceSlots } from "./slots.js";
import { VictimQueue } from "./space-saving.js";
import { HistogramStore, ScalarStore, type MetricStore } from "./storage.js";
import { DEFAULT_BOUNDARIES, type HistogramOptions, type MetricDescriptor, type MetricKind, type MetricOptions } from "./types.js";
import { usageOf, type WorkspaceUsage } from "./usage.js";
import { WorkspaceMetrics } from "./workspace-handle.js";

/** One recording in Dittofeed's call style. */
export interface RecordInput {
  readonly workspaceId: string;
  readonly metric: string;
  readonly value: number;
}

/** How full the table is and whether the sketch has taken over. */
export interface MetricsStats {
  readonly tracked: number;
  readonly capacity: number;
  /** True once a Space-Saving replacement happened: values may be overestimates. */
  readonly approximate: boolean;
  readonly retired: number;
  readonly replaced: number;
  /** Largest value a newcomer inherited (the Space-Saving error bound); 0 while exact. */
  readonly errorBound: number;
}

/** What a missing (null or undefined) argument reads as: every field absent. */
const NO_INPUT: Partial<RecordInput> = {};

/** Idle retirement runs when this many sweep epochs passed without a recording. */
const IDLE_EPOCHS = 4;

/**
 * Per-workspace metrics with bounded export and exact totals. Declare each
 * metric once, record through bound handles (no allocation) or the object
 * form, export the top K workspaces plus an exact `__other__` per metric.
 *
 * @example
 * const metrics = new TenantMetrics({ topK: 100 });
 * metrics.counter("messages_sent", { unit: "1", description: "messages sent" });
 * const ws = metrics.workspace(workspaceId);           // Result<WorkspaceMetrics, …>
 * if (ws.isOk()) ws.value.counter("messages_sent").add(1);
 * metrics.add({ workspaceId, metric: "messages_sent", value: 1 });
 */
export class TenantMetrics implements SlotOwner {
  readonly slots: WorkspaceSlots;
  readonly options: ResolvedOptions;
  readonly #stores = new Map<string, MetricStore>();
  readonly #victims = new VictimQueue();
  #epochStartedAt: number;
  /** slot → cached `ok(handle)` and the slot generation it was made for. */
  readonly #handles: (Result<WorkspaceMetrics, never> | undefined)[] = [];
  readonly #handleGeneration: number[] = [];
  #retired = 0;
  #replaced = 0;
  /** Created by the first `prometheus()` call (it attaches an 8-byte-per-slot column per counter and histogram). */
  #prometheus: PrometheusExport | undefined;
  readonly #declareListeners: ((store: MetricStore) => void)[] = [];

  constructor(options: TenantMetricsOptions = {}) {
    this.options = resolveOptions(options);
    this.slots = new WorkspaceSlots(this.options.maxWorkspaces);
    this.#epochStartedAt = this.options.clock.now();
  }

  /** Declares a monotonic counter (idempotent for the same kind). */
  counter(name: string, options: MetricOptions = {}): MetricDescriptor {
    return this.#declare(name, "counter", options);
  }
  upDownCounter(name: string, options: MetricOptions = {}): MetricDescriptor {
    return this.#declare(name, "upDownCounter", options);
  }
  gauge(name: string, options: MetricOptions = {}): MetricDescriptor {
    return this.#declare(name, "gauge", options);
  }
  histogram(name: string, options: HistogramOptions = {}): MetricDescriptor {
    return this.#declare(name, "histogram", options, options.boundaries ?? DEFAULT_BOUNDARIES);
  }

  /** Every declared metric, in declaration order. */
  metrics(): MetricDescriptor[] {
    return [...this.#stores.values()].map((s) => s.descriptor);
  }

  /** The store behind a metric, for exporters. */
  store(name: string): MetricStore | undefined {
    return this.#stores.get(name);
  }

  /** All instruments bound to one workspace; the id is parsed once here. */
  workspace(workspaceId: string): Result<WorkspaceMetrics, InvalidWorkspaceIdError> {
    const parsed = parseWorkspaceId(workspaceId);
    if (parsed.isErr()) return err(parsed.error);
    const id = parsed.value;
    // One handle per tracked workspace, reused while its slot keeps the same
    // owner, so calling workspace(id) per request allocates nothing either.
    let slot = this.slots.find(id);
    const cached = slot >= 0 ? this.#handles[slot] : undefined;
    if (cached !== undefined && this.#handleGeneration[slot] === this.slots.generation[slot]) return cached;
    const handle: Result<WorkspaceMetrics, never> = ok(new WorkspaceMetrics(this, this.#stores, id));
    slot = this.acquire(id);
    this.#handles[slot] = handle;
    this.#handleGeneration[slot] = this.slots.generation[slot] ?? 0;
    return handle;
  }

  /** Adds to a counter or up-down counter. */
  add(input: RecordInput): Result<void, RecordError> {
    return this.#record(input, "add");
  }
  /** Sets a gauge. */
  set(input: RecordInput): Result<void, RecordError> {
    return this.#record(input, "set");
  }
  /** Records a histogram observation. */
  observe(input: RecordInput): Result<void, RecordError> {
    return this.#record(input, "observe");
  }

  /** Exact usage of one workspace (zeros if it was never seen or has been retired). */
  usage(input: { readonly workspaceId: string }): Result<WorkspaceUsage, InvalidWorkspaceIdError> {
    return parseWorkspaceId((input ?? NO_INPUT).workspaceId).map((id) => usageOf(id, this.slots.find(id), this.#stores));
  }

  /** Usage of every tracked workspace (exact unless `stats().approximate`). */
  snapshot(): WorkspaceUsage[] {
    const out: WorkspaceUsage[] = [];
    for (let slot = 0; slot < this.slots.highWater; slot++) {
      const id = this.slots.ids[slot];
      if (id !== undefined) out.push(usageOf(id as WorkspaceId, slot, this.#stores));
    }
    return out;
  }

  /**
   * The bounded point-in-time view of every metric: the current top K
   * workspaces by value (lifetime values) plus `__other__`, summing exactly to
   * the total. Also runs idle retirement when it is due. Not a counter feed:
   * when a workspace retires or leaves the top K its value moves into
   * `__other__` at once, which `rate()` would read as real increase; serve
   * `prometheus()` instead of `renderPrometheus(collect())`.
   */
  collect(): MetricCollection[] {
    this.sweep();
    return [...this.#stores.values()].map((store) => collectMetric(store, this.slots, this.options.topK));
  }

  /**
   * Prometheus text exposition (format 0.0.4). Counter families (counters,
   * histogram `_count`/`_bucket`/`_sum`) are stateful so `rate()` and
   * `increase()` stay true: names are admitted by value until K are named and
   * then kept until the process restarts, each named series grows only by its
   * workspace's own increases (a Space-Saving newcomer counts from its
   * arrival), and `__other__` takes the rest. A histogram's `_sum` is a true
   * counter only while every observation is ≥ 0: then float rounding in
   * `__other__` is clamped so it never falls; after a negative observation
   * `_sum` may fall and `rate()` on it reads that as a reset. Up-down
   * counters and gauges are the point-in-time top K of `collect()`. The first
   * call attaches 8 B per workspace slot per counter and per histogram for the
   * life of the process. Also runs idle retirement when due.
   */
  prometheus(): string {
    this.sweep();
    this.#prometheus ??= new PrometheusExport();
    return renderPrometheus(this.#prometheus.collect(this.#stores.values(), this.slots, this.options.topK));
  }

  /** The `TenantMetricsSink` other tenancykit modules report through. */
  sink(): CountingMetricsSink {
    return metricsSink(this);
  }

  stats(): MetricsStats {
    return {
      tracked: this.slots.size,
      capacity: this.slots.capacity,
      approximate: this.#replaced > 0,
      retired: this.#retired,
      replaced: this.#replaced,
      errorBound: this.#victims.maxInherited,
    };
  }

  /**
   * Advances the idle clock and retires idle workspaces when an epoch (a
   * quarter of `idleTtlMs`) has passed; returns how many were retired.
   */
  sweep(): number {
    const ttl = this.options.idleTtlMs;
    if (ttl === 0) return 0;
    const now = this.options.clock.now();
    const epochMs = ttl / IDLE_EPOCHS;
    if (now - this.#epochStartedAt < epochMs) return 0;
    // Several epochs may have passed at once; an epoch is ≥ ttl/4 long, so a
    // slot untouched for IDLE_EPOCHS epochs has been idle for ≥ ttl.
    this.slots.epoch += Math.min(IDLE_EPOCHS, Math.floor((now - this.#epochStartedAt) / epochMs));
    this.#epochStartedAt = now;
    const retired = this.slots.retireIdle(IDLE_EPOCHS);
    // Freed and zeroed slots void the victim queue's lower bounds.
    if (retired > 0) this.#victims.invalidate();
    this.#retired += retired;
    return retired;
  }

  /** @internal The slow path: find, claim, retire idle, or replace (Space-Saving). */
  acquire(id: WorkspaceId): number {
    const slots = this.slots;
    let slot = slots.find(id);
    if (slot >= 0) return slot;
    slot = slots.claim(id);
    if (slot >= 0) return slot;
    if (this.sweep() > 0) {
      slot = slots.claim(id);
      if (slot >= 0) return slot;
    }
    slot = this.#victims.next(slots, this.#rankStore());
    slots.replace(slot, id);
    this.#replaced++;
    return slot;
  }

  /**
   * The Space-Saving ranking: `rankBy`, else the first counter, else the first
   * histogram (by count), else recency. Only values that never fall may rank
   * (the victim queue relies on it; `#declare` refuses anything else for `rankBy`).
   */
  #rankStore(): MetricStore | undefined {
    const named = this.options.rankBy === undefined ? undefined : this.#stores.get(this.options.rankBy);
    if (named) return named;
    let histogram: MetricStore | undefined;
    for (const store of this.#stores.values()) {
      if (store.descriptor.kind === "counter") return store;
      if (store.descriptor.kind === "histogram") histogram ??= store;
    }
    return histogram;
  }

  #declare(name: string, kind: MetricKind, options: MetricOptions, boundaries?: readonly number[]): MetricDescriptor {
    checkMetricName(name, boundaries);
    const existing = this.#stores.get(name);
    if (existing) {
      if (existing.descriptor.kind !== kind) {
        throw new TypeError(`metric ${JSON.stringify(name)} is already declared as a ${existing.descriptor.kind}`);
      }
      return existing.descriptor;
    }
    this.#checkCollision(name, kind);
    if (name === this.options.rankBy && kind !== "counter" && kind !== "histogram") {
      throw new TypeError(
        `metric ${JSON.stringify(name)} is the Space-Saving ranking (rankBy) and must be a counter or a histogram, not a ${kind}: ranking values must never fall`,
      );
    }
    const descriptor: MetricDescriptor = {
      name,
      kind,
      unit: options.unit ?? "",
      description: options.description ?? "",
      boundaries: boundaries ? [...boundaries] : [],
    };
    const store = kind === "histogram" ? new HistogramStore(descriptor) : new ScalarStore(descriptor);
    this.#stores.set(name, store);
    this.slots.listen(store);
    for (const listener of this.#declareListeners) listener(store);
    return descriptor;
  }

  /** @internal Called with each metric declared from now on (the flusher picks up late declarations). */
  onDeclare(listener: (store: MetricStore) => void): void {
    this.#declareListeners.push(listener);
  }

  /** A histogram `x` exports `x_bucket`, `x_count` and `x_sum`: no other metric may take those names. */
  #checkCollision(name: string, kind: MetricKind): void {
    if (kind === "histogram") {
      for (const suffix of HISTOGRAM_SUFFIXES) {
        const taken = this.#stores.get(name + suffix);
        if (taken) {
          throw new MetricNameCollisionError(name, taken.descriptor.name, `a histogram exports ${JSON.stringify(name + suffix)}, already a ${taken.descriptor.kind}`);
        }
      }
    }
    for (const suffix of HISTOGRAM_SUFFIXES) {
      if (!name.endsWith(suffix)) continue;
      const base = this.#stores.get(name.slice(0, -suffix.length));
      if (base?.descriptor.kind === "histogram") {
        throw new MetricNameCollisionError(name, base.descriptor.name, `histogram ${JSON.stringify(base.descriptor.name)} already exports it`);
      }
    }
  }

  #record(input: RecordInput, op: "add" | "set" | "observe"): Result<void, RecordError> {
    // No object: every field is missing (UnknownMetric), rather than a TypeError from destructuring null.
    const { workspaceId, metric, value } = input ?? NO_INPUT;
    const store = this.#stores.get(metric);
    if (store === undefined) return err(unknownMetric(metric));
    const kind = store.descriptor.kind;
    const expected = op === "add" ? kind === "counter" || kind === "upDownCounter" : op === "set" ? kind === "gauge" : kind === "histogram";
    if (!expected) return err(unknownMetric(metric, op === "add" ? "counter" : op === "set" ? "gauge" : "histogram", kind));
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    return this.write(store, id.value, value);
  }

  /**
   * @internal Records into a known store for a parsed id (the sink's path:
   * no lookup by name, no allocation). Validates the value for the kind.
   */
  write(store: MetricStore, id: WorkspaceId, value: number): Result<void, RecordError> {
    const kind = store.descriptor.kind;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return err(invalidValue(store.descriptor.name, value, "values must be finite numbers", id));
    }
    if (kind === "counter" && value < 0) return err(invalidValue(store.descriptor.name, value, "a counter cannot decrease", id));
    const slot = this.acquire(id);
    this.slots.touch[slot] = this.slots.epoch;
    if (store instanceof HistogramStore) store.record(slot, value);
    else if (kind === "gauge") store.values[slot] = value;
    else store.values[slot] = (store.values[slot] ?? 0) + value;
    return RECORDED;
  }
}
