import { err, ok, type Result } from "neverthrow";
import type { WorkspaceId } from "../core/workspace-id.js";
import { invalidValue, unknownMetric, type InvalidMetricValueError, type UnknownMetricError } from "./errors.js";
import type { WorkspaceSlots } from "./slots.js";
import type { HistogramStore, ScalarStore } from "./storage.js";

/** The one Ok every successful recording returns: no allocation per call. */
export const RECORDED: Result<void, never> = ok(undefined);

export type RecordResult = Result<void, UnknownMetricError | InvalidMetricValueError>;

/** What a bound instrument needs from TenantMetrics: the slot table and the slow path. */
export interface SlotOwner {
  readonly slots: WorkspaceSlots;
  /** Finds or makes the workspace's slot (may evict or replace another). */
  acquire(id: WorkspaceId): number;
}

/**
 * Shared by every bound instrument: the workspace's slot and the generation
 * it was bound at. When the slot has changed hands (idle eviction, Space-Saving
 * replacement) the next recording re-acquires a slot, so a long-lived handle
 * never writes into another workspace's counters.
 */
abstract class Bound {
  protected slot: number;
  protected generation: number;

  constructor(
    protected readonly owner: SlotOwner,
    readonly workspaceId: WorkspaceId,
  ) {
    this.slot = owner.acquire(workspaceId);
    this.generation = owner.slots.generation[this.slot] ?? 0;
  }

  /** The current slot, re-bound if the old one was reassigned; stamps the touch epoch. */
  protected current(): number {
    const slots = this.owner.slots;
    let slot = this.slot;
    if (slots.generation[slot] !== this.generation) {
      slot = this.slot = this.owner.acquire(this.workspaceId);
      this.generation = slots.generation[slot] ?? 0;
    }
    slots.touch[slot] = slots.epoch;
    return slot;
  }
}

/** A monotonic counter bound to one workspace. */
export class BoundCounter extends Bound {
  constructor(
    owner: SlotOwner,
    workspaceId: WorkspaceId,
    private readonly store: ScalarStore,
  ) {
    super(owner, workspaceId);
  }

  /** Adds `value` (finite, ≥ 0). NaN, ±Infinity or a negative value is an Err and changes nothing. */
  add(value: number): RecordResult {
    if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
      return err(invalidValue(this.store.descriptor.name, value, "a counter takes finite values ≥ 0", this.workspaceId));
    }
    const slot = this.current();
    const values = this.store.values;
    values[slot] = (values[slot] as number) + value;
    return RECORDED;
  }
}

/** An up-down counter bound to one workspace (e.g. active journeys). */
export class BoundUpDownCounter extends Bound {
  constructor(
    owner: SlotOwner,
    workspaceId: WorkspaceId,
    private readonly store: ScalarStore,
  ) {
    super(owner, workspaceId);
  }

  /** Adds a finite `value`, negative allowed. */
  add(value: number): RecordResult {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return err(invalidValue(this.store.descriptor.name, value, "an up-down counter takes finite values", this.workspaceId));
    }
    const slot = this.current();
    const values = this.store.values;
    values[slot] = (values[slot] as number) + value;
    return RECORDED;
  }
}

/** A gauge bound to one workspace (the last value set wins). */
export class BoundGauge extends Bound {
  constructor(
    owner: SlotOwner,
    workspaceId: WorkspaceId,
    private readonly store: ScalarStore,
  ) {
    super(owner, workspaceId);
  }

  set(value: number): RecordResult {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return err(invalidValue(this.store.descriptor.name, value, "a gauge takes finite values", this.workspaceId));
    }
    this.store.values[this.current()] = value;
    return RECORDED;
  }
}

/** A histogram bound to one workspace. */
export class BoundHistogram extends Bound {
  constructor(
    owner: SlotOwner,
    workspaceId: WorkspaceId,
    private readonly store: HistogramStore,
  ) {
    super(owner, workspaceId);
  }

  record(value: number): RecordResult {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return err(invalidValue(this.store.descriptor.name, value, "a histogram takes finite values", this.workspaceId));
    }
    this.store.record(this.current(), value);
    return RECORDED;
  }
}

/**
 * Stands in for an instrument whose name was never declared (or has another
 * kind): every call is a typed Err and nothing is recorded. Returned instead
 * of throwing so `handle.counter("typo").add(1)` stays exception-free.
 */
export class MissingInstrument {
  readonly #error: UnknownMetricError;

  constructor(name: string, wanted?: string, actual?: string) {
    this.#error = unknownMetric(name, wanted, actual);
  }

  add(_value: number): RecordResult {
    return err(this.#error);
  }
  set(_value: number): RecordResult {
    return err(this.#error);
  }
  record(_value: number): RecordResult {
    return err(this.#error);
  }
}
