import type { Partition } from "./partition.js";

/**
 * The due times of one partition's entries: a binary min-heap of
 * (instant, key) records over two parallel arrays (no object per record).
 *
 * A record says "something about this key may be due at this instant": the
 * entry's expiry, or the end of a stale entry's grace period. Records are not
 * removed when their entry is overwritten, deleted or evicted (that would
 * need the old entry on every write); a popped record whose key holds nothing
 * due is simply dropped, and `ExpirySchedule.add` rebuilds the heap from the
 * live entries once dead records outnumber them, so it stays O(entries).
 */
export class DueQueue {
  readonly times: number[] = [];
  readonly keys: string[] = [];

  get size(): number {
    return this.times.length;
  }

  /** The earliest instant recorded, or +Infinity. */
  get next(): number {
    return this.times.length === 0 ? Infinity : (this.times[0] as number);
  }

  push(at: number, key: string): void {
    const { times, keys } = this;
    let i = times.length;
    times.push(at);
    keys.push(key);
    // Entries are mostly added in expiry order, so this loop usually stops at once.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const t = times[parent] as number;
      if (t <= at) break;
      times[i] = t;
      keys[i] = keys[parent] as string;
      i = parent;
    }
    times[i] = at;
    keys[i] = key;
  }

  /** Removes the earliest record and returns its key; only when `size > 0`. */
  pop(): string {
    const { times, keys } = this;
    const first = keys[0] as string;
    const at = times.pop() as number;
    const key = keys.pop() as string;
    const n = times.length;
    if (n === 0) return first;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && (times[child + 1] as number) < (times[child] as number)) child++;
      const t = times[child] as number;
      if (t >= at) break;
      times[i] = t;
      keys[i] = keys[child] as string;
      i = child;
    }
    times[i] = at;
    keys[i] = key;
    return first;
  }

  clear(): void {
    this.times.length = 0;
    this.keys.length = 0;
  }
}

/**
 * Expires entries on time, so that an entry still in a partition's LRU is
 * fresh by construction and a hit needs no time comparison (that comparison
 * was about a seventh of a hit; see docs/cache.md).
 *
 * Partitions with due records sit in a min-heap on their earliest record.
 * `expireDue(now)` pops every record due at `now` and lets the cache decide
 * what is due for that key (see CacheCore). With the system clock a single
 * unref'd timer runs `expireDue(Date.now())` at the earliest due instant, the
 * same event-loop-turn granularity as the 1 ms cached clock lru-cache and the
 * previous per-hit check used; with an injected clock there is no timer and
 * the cache calls `expireDue(clock.now())` before every read, so tests that
 * move a manual clock see exact expiry.
 */
export class ExpirySchedule<V> {
  readonly #heap: Partition<V>[] = [];
  readonly #expireKey: (p: Partition<V>, key: string, now: number) => void;
  readonly #graceMs: number;
  readonly #timed: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #expiring = false;

  /**
   * @param expireKey handles one popped record (it may call `add` for the key again).
   * @param timed arm a timer (system clock); false when reads call `expireDue` themselves.
   */
  constructor(expireKey: (p: Partition<V>, key: string, now: number) => void, graceMs: number, timed: boolean) {
    this.#expireKey = expireKey;
    this.#graceMs = graceMs;
    this.#timed = timed;
  }

  /** Records that `key` of `p` may be due at `at`. */
  add(p: Partition<V>, key: string, at: number): void {
    let queue = p.due;
    if (queue === undefined) queue = p.due = new DueQueue();
    queue.push(at, key);
    // Dead records (overwritten, deleted, evicted entries) are dropped in bulk.
    if (!this.#expiring && queue.size > 2 * p.entries + 32) this.#rebuild(p, queue);
    if (queue.next < p.nextDue) this.#reposition(p, queue.next);
    if (this.#timed && at < this.#timerAt) this.#arm(at);
  }

  /** Drops a partition's records (workspace clear): O(log partitions). */
  forget(p: Partition<V>): void {
    if (p.dueIndex >= 0) this.#removeAt(p.dueIndex);
    p.due = undefined;
    p.nextDue = Infinity;
  }

  /** Hands every record due at `now` to `expireKey`. */
  expireDue(now: number): void {
    const heap = this.#heap;
    this.#expiring = true;
    try {
      for (let p = heap[0]; p !== undefined && p.nextDue <= now; p = heap[0]) {
        const queue = p.due as DueQueue;
        while (queue.next <= now) this.#expireKey(p, queue.pop(), now);
        if (queue.size === 0) this.#removeAt(0);
        else {
          p.nextDue = queue.next;
          this.#siftDown(0);
        }
      }
    } finally {
      this.#expiring = false;
    }
  }

  /** The earliest due instant of any partition (+Infinity when none). */
  get next(): number {
    return this.#heap[0]?.nextDue ?? Infinity;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const now = Date.now();
    // Capped, so a forward jump of the wall clock (which timers do not see) is caught within a second.
    const delay = Math.min(1_000, Math.max(0, Math.ceil(at - now)));
    this.#timerAt = Math.min(at, now + delay);
    this.#timer = setTimeout(this.#fire, delay);
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    try {
      this.expireDue(Date.now());
    } finally {
      // Re-armed whatever happened, so expiry never stops.
      const next = this.next;
      if (next !== Infinity) this.#arm(next);
    }
  };

  /** Re-creates the records of the partition's live entries (LRU and stale). */
  #rebuild(p: Partition<V>, queue: DueQueue): void {
    queue.clear();
    p.lru.forEach((entry, key) => {
      if (entry.expiresAt !== Infinity) queue.push(entry.expiresAt, key);
    });
    if (p.stale !== undefined) for (const [key, stale] of p.stale) queue.push(stale.entry.expiresAt + this.#graceMs, key);
    if (queue.size === 0) this.forget(p);
    else this.#reposition(p, queue.next);
  }

  /** Sets the partition's earliest instant and restores the heap order. */
  #reposition(p: Partition<V>, next: number): void {
    const heap = this.#heap;
    p.nextDue = next;
    if (p.dueIndex < 0) {
      p.dueIndex = heap.length;
      heap.push(p);
    }
    this.#siftUp(p.dueIndex);
    this.#siftDown(p.dueIndex);
  }

  #removeAt(i: number): void {
    const heap = this.#heap;
    const removed = heap[i] as Partition<V>;
    removed.dueIndex = -1;
    removed.nextDue = Infinity;
    const last = heap.pop() as Partition<V>;
    if (i === heap.length) return;
    heap[i] = last;
    last.dueIndex = i;
    this.#siftUp(i);
    this.#siftDown(last.dueIndex);
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const p = heap[i] as Partition<V>;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex] as Partition<V>;
      if (parent.nextDue <= p.nextDue) break;
      heap[i] = parent;
      parent.dueIndex = i;
      i = parentIndex;
    }
    heap[i] = p;
    p.dueIndex = i;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const p = heap[i] as Partition<V>;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && (heap[c + 1] as Partition<V>).nextDue < (heap[c] as Partition<V>).nextDue) c++;
      const child = heap[c] as Partition<V>;
      if (child.nextDue >= p.nextDue) break;
      heap[i] = child;
      child.dueIndex = i;
      i = c;
    }
    heap[i] = p;
    p.dueIndex = i;
  }
}
