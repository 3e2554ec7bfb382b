/**
 * The workspace table: each tracked workspace owns one integer slot, and every
 * metric keeps its values in typed arrays indexed by that slot. A bound handle
 * remembers (slot, generation); the generation changes whenever the slot is
 * given to another workspace, so a stale handle notices and re-binds instead
 * of writing into someone else's counters.
 */
export interface SlotListener {
  /** Arrays must now hold `size` slots (they only grow). */
  grow(size: number): void;
  /** The slot's workspace left for good (idle eviction): fold its values away and zero it. */
  retire(slot: number): void;
  /**
   * The slot passes to `id`, a new workspace that inherits its values
   * (Space-Saving). Called while `ids[slot]` is still the evicted workspace.
   */
  replace(slot: number, id: string): void;
}

const INITIAL_SIZE = 1_024;

export class WorkspaceSlots {
  /** Most workspaces tracked exactly at once. */
  readonly capacity: number;
  /** slot → workspace id (undefined when free). */
  ids: (string | undefined)[] = [];
  /** slot → generation; bumped when the slot changes owner. */
  generation: Uint32Array;
  /** slot → epoch of the last recording (written on the hot path). */
  touch: Uint32Array;
  /** Advanced by each idle sweep; the hot path stamps it into `touch`. */
  epoch = 1;
  /** Slots in use (≤ capacity). */
  size = 0;
  /** One past the highest slot ever used: scans stop here. */
  highWater = 0;

  readonly #bySlotId = new Map<string, number>();
  readonly #free: number[] = [];
  readonly #listeners: SlotListener[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
    const initial = Math.min(capacity, INITIAL_SIZE);
    this.generation = new Uint32Array(initial);
    this.touch = new Uint32Array(initial);
  }

  get allocated(): number {
    return this.generation.length;
  }

  /** `first` listeners see a slot before the stores clear it (flushers capture unflushed usage). */
  listen(listener: SlotListener, first = false): void {
    if (first) this.#listeners.unshift(listener);
    else this.#listeners.push(listener);
    listener.grow(this.allocated);
  }

  /** The slot of a tracked workspace, or -1. */
  find(id: string): number {
    return this.#bySlotId.get(id) ?? -1;
  }

  /** Takes a free slot for `id`; returns -1 when the table is full. */
  claim(id: string): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      if (this.highWater >= this.capacity) return -1;
      if (this.highWater >= this.allocated) this.#grow();
      slot = this.highWater++;
    }
    this.#assign(slot, id);
    this.size++;
    return slot;
  }

  /** Gives an occupied slot to `id`; its values stay (the caller records them as error). */
  replace(slot: number, id: string): void {
    const previous = this.ids[slot];
    if (previous !== undefined) this.#bySlotId.delete(previous);
    for (const listener of this.#listeners) listener.replace(slot, id);
    this.#assign(slot, id);
  }

  /** Frees every slot untouched for more than `idleEpochs` epochs; returns how many. */
  retireIdle(idleEpochs: number): number {
    let retired = 0;
    const cutoff = this.epoch - idleEpochs;
    for (let slot = 0; slot < this.highWater; slot++) {
      const id = this.ids[slot];
      if (id === undefined || (this.touch[slot] ?? 0) >= cutoff) continue;
      for (const listener of this.#listeners) listener.retire(slot);
      this.#bySlotId.delete(id);
      this.ids[slot] = undefined;
      this.generation[slot] = (this.generation[slot] ?? 0) + 1;
      this.#free.push(slot);
      this.size--;
      retired++;
    }
    return retired;
  }

  #assign(slot: number, id: string): void {
    this.ids[slot] = id;
    this.#bySlotId.set(id, slot);
    this.generation[slot] = (this.generation[slot] ?? 0) + 1;
    this.touch[slot] = this.epoch;
  }

  #grow(): void {
    const size = Math.min(this.capacity, this.allocated * 2);
    this.generation = grown(this.generation, size);
    this.touch = grown(this.touch, size);
    for (const listener of this.#listeners) listener.grow(size);
  }
}

export function grown<T extends Uint32Array | Float64Array>(array: T, size: number): T {
  const next = new (array.constructor as new (n: number) => T)(size);
  next.set(array);
  return next;
}
