import type { WorkspaceSlots } from "./slots.js";
import type { MetricStore } from "./storage.js";

/**
 * Picks Space-Saving victims when every slot is taken: always a slot holding
 * the smallest current value of the ranking metric, as Space-Saving requires,
 * provided ranking values never fall between retirements. They don't: the
 * ranking is a counter's value, a histogram's count or a slot's last-touch
 * epoch (TenantMetrics refuses an up-down counter or gauge as `rankBy`); a
 * key that could fall would leave a smaller slot outside the queue.
 * Evicting anything larger breaks the guarantee that values are upper bounds:
 * a workspace evicted at value v may return later and inherit less than v.
 *
 * Finding the minimum per arrival would scan every slot, so one scan queues
 * the smallest 1/64 of the table in a min-heap keyed by each slot's value at
 * queue time, and records the largest queued key as the threshold (every slot
 * left out of the queue held at least that much, and ranking values only
 * grow). The hot path never touches the heap, so a queued key is only a lower
 * bound of the slot's value; each pop re-checks it:
 *
 * - the slot grew since it was queued: re-queue it at its current value;
 * - the smallest key is above the threshold: slots outside the queue may now
 *   be smaller, so rescan;
 * - otherwise the slot's value equals the smallest key, no queued slot holds
 *   less and no unqueued slot holds less than the threshold: it is the
 *   minimum. It is queued again at that value (its newcomer inherits it).
 *
 * Retirement frees and zeroes slots, which would invalidate the lower bounds
 * and the threshold, so it drops the queue (`invalidate()`), as does a change
 * of ranking metric.
 */
export class VictimQueue {
  #keys: Float64Array = new Float64Array(0);
  #slots: Int32Array = new Int32Array(0);
  #size = 0;
  #threshold = Infinity;
  #rank: MetricStore | undefined;
  /** The largest value ever inherited by a newcomer: the sketch's error bound. */
  maxInherited = 0;

  /** Forgets the queue; the next arrival rescans. */
  invalidate(): void {
    this.#size = 0;
  }

  next(slots: WorkspaceSlots, rank: MetricStore | undefined): number {
    if (rank !== this.#rank) {
      this.#rank = rank;
      this.#size = 0;
    }
    for (;;) {
      if (this.#size === 0) this.#refill(slots, rank);
      const key = this.#keys[0] ?? 0;
      const slot = this.#slots[0] ?? 0;
      this.#pop();
      // Only called when every slot below highWater is occupied; a free slot here is stale.
      if (slots.ids[slot] === undefined) continue;
      const current = keyOf(slots, rank, slot);
      if (current > key) {
        this.#push(current, slot); // grew since queued
        continue;
      }
      if (key > this.#threshold) {
        this.#size = 0; // the queue no longer certifies the minimum
        continue;
      }
      this.#push(current, slot); // the newcomer inherits `current` and may be the next minimum
      if (rank) this.maxInherited = Math.max(this.maxInherited, current);
      return slot;
    }
  }

  #refill(slots: WorkspaceSlots, rank: MetricStore | undefined): void {
    const n = slots.highWater;
    const order: number[] = [];
    const keys = new Float64Array(n);
    for (let slot = 0; slot < n; slot++) {
      if (slots.ids[slot] === undefined) continue;
      order.push(slot);
      keys[slot] = keyOf(slots, rank, slot);
    }
    // Callers only ask when the table is full; an empty table would loop forever.
    if (order.length === 0) throw new Error("VictimQueue: no occupied slot to evict");
    order.sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0) || a - b);
    const batch = Math.max(1, Math.min(order.length, order.length >> 6));
    if (this.#keys.length < batch) {
      this.#keys = new Float64Array(batch);
      this.#slots = new Int32Array(batch);
    }
    // Sorted ascending is already a valid min-heap.
    for (let i = 0; i < batch; i++) {
      const slot = order[i] ?? 0;
      this.#keys[i] = keys[slot] ?? 0;
      this.#slots[i] = slot;
    }
    this.#size = batch;
    this.#threshold = batch < order.length ? (this.#keys[batch - 1] ?? 0) : Infinity;
  }

  #pop(): void {
    const keys = this.#keys;
    const slots = this.#slots;
    const size = --this.#size;
    if (size === 0) return;
    const key = keys[size] ?? 0;
    const slot = slots[size] ?? 0;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && before(keys[right] ?? 0, slots[right] ?? 0, keys[left] ?? 0, slots[left] ?? 0)) child = right;
      if (!before(keys[child] ?? 0, slots[child] ?? 0, key, slot)) break;
      keys[i] = keys[child] ?? 0;
      slots[i] = slots[child] ?? 0;
      i = child;
    }
    keys[i] = key;
    slots[i] = slot;
  }

  #push(key: number, slot: number): void {
    const keys = this.#keys;
    const slots = this.#slots;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(key, slot, keys[parent] ?? 0, slots[parent] ?? 0)) break;
      keys[i] = keys[parent] ?? 0;
      slots[i] = slots[parent] ?? 0;
      i = parent;
    }
    keys[i] = key;
    slots[i] = slot;
  }
}

/** The ranking key of a slot: the ranking metric's value, or the last-touch epoch when no metric exists. */
function keyOf(slots: WorkspaceSlots, rank: MetricStore | undefined, slot: number): number {
  return rank ? rank.rank(slot) : (slots.touch[slot] ?? 0);
}

/** Heap order: smaller key first, then lower slot (deterministic). */
function before(keyA: number, slotA: number, keyB: number, slotB: number): boolean {
  return keyA < keyB || (keyA === keyB && slotA < slotB);
}
