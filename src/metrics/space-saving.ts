import type { WorkspaceSlots } from "./slots.js";
import type { MetricStore } from "./storage.js";

/**
 * Picks Space-Saving victims when every slot is taken: the slots with the
 * smallest value of the ranking metric. Finding the minimum per arrival would
 * scan every slot, so one scan queues the smallest 1/64 of the table and
 * arrivals consume that queue. A queued slot may have grown since; that is
 * safe because the newcomer's error is set to the value it actually inherits,
 * so the reported bound is always true.
 */
export class VictimQueue {
  #queue: Int32Array = new Int32Array(0);
  #next = 0;
  /** The largest value ever inherited by a newcomer: the sketch's error bound. */
  maxInherited = 0;

  next(slots: WorkspaceSlots, rank: MetricStore | undefined): number {
    let slot = -1;
    // Only called when every slot below highWater is occupied; the check keeps
    // a stale queue entry from ever handing out a free slot regardless.
    while (slot < 0 || slots.ids[slot] === undefined) {
      if (this.#next >= this.#queue.length) this.#refill(slots, rank);
      slot = this.#queue[this.#next++] ?? 0;
    }
    if (rank) this.maxInherited = Math.max(this.maxInherited, rank.rank(slot));
    return slot;
  }

  #refill(slots: WorkspaceSlots, rank: MetricStore | undefined): void {
    const n = slots.highWater;
    const batch = Math.max(1, Math.min(n, n >> 6));
    const order = new Int32Array(n);
    const keys = new Float64Array(n);
    for (let slot = 0; slot < n; slot++) {
      order[slot] = slot;
      keys[slot] = rank ? rank.rank(slot) : slots.touch[slot] ?? 0;
    }
    order.sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0));
    this.#queue = order.slice(0, batch);
    this.#next = 0;
  }
}
