import type { Partition } from "./partition.js";

/**
 * The byte budget shared by all partitions: a guaranteed floor per workspace
 * plus a shared pool. When the total passes `maxBytes`, a workspace over its
 * floor loses its least recently used entries: the one earning the fewest
 * hits per byte, so a noisy workspace scanning unique keys evicts its own
 * entries first, and a workspace under its floor is never evicted for
 * someone else.
 */
export class Budget<V> {
  total = 0;
  evictions = 0;
  /** Partitions holding more than their floor: the only eviction candidates besides the writer. */
  readonly overFloor = new Set<Partition<V>>();
  #heaviest: Partition<V> | undefined;
  #picksSinceScan = 0;

  /** @param emptied told when an eviction took a partition's last entry (it may then be reclaimed). */
  constructor(
    readonly maxBytes: number,
    private readonly emptied: (partition: Partition<V>) => void = () => undefined,
  ) {}

  /**
   * Records a change of a partition's bytes, read from its LRU's
   * `calculatedSize` before and after each mutation (cheaper than a dispose
   * callback on every removal, which cost lru-cache about a quarter of its
   * set throughput).
   */
  changed(partition: Partition<V>, delta: number): void {
    if (delta === 0) return;
    partition.bytes += delta;
    this.total += delta;
    this.#track(partition);
  }

  /**
   * Counts `count` entries a partition lost to make room (its cap or the
   * shared pool). The metrics sink gets the count with the partition's next
   * flush, like hits and misses: no sink call on the write path.
   */
  evicted(partition: Partition<V>, count: number): void {
    partition.evictions += count;
    this.evictions += count;
  }

  /** Drops a whole partition's bytes (workspace clear): O(1). */
  detach(partition: Partition<V>): void {
    this.total -= partition.bytes;
    partition.bytes = 0;
    partition.detached = true;
    if (partition.overFloor) {
      partition.overFloor = false;
      this.overFloor.delete(partition);
    }
    if (this.#heaviest === partition) this.#heaviest = undefined;
  }

  /**
   * Evicts the partition's own least recently used entries until it is within
   * its cap. lru-cache keeps the fresh entries within the cap by itself; only
   * stale ones (which its count does not include) can take a partition past it.
   */
  trimToCap(partition: Partition<V>): void {
    while (partition.bytes > partition.cap) if (!this.#popFrom(partition)) break;
  }

  /** Evicts the partition's oldest stale entry (kept only for stale-while-revalidate), if any. */
  popStale(victim: Partition<V>): boolean {
    const staleSize = victim.stale === undefined ? undefined : victim.popStale();
    if (staleSize === undefined) return false;
    this.changed(victim, -staleSize);
    this.evicted(victim, 1);
    if (victim.lru.size === 0) this.emptied(victim);
    return true;
  }

  #popFrom(victim: Partition<V>): boolean {
    // Expired entries kept only for stale-while-revalidate go first.
    if (this.popStale(victim)) return true;
    const before = victim.lru.calculatedSize;
    if (victim.lru.pop() === undefined) return false;
    this.changed(victim, victim.lru.calculatedSize - before);
    this.evicted(victim, 1);
    if (victim.lru.size === 0) this.emptied(victim);
    return true;
  }

  /** Evicts until the total fits, after `writer` added an entry. */
  makeRoom(writer: Partition<V>): void {
    while (this.total > this.maxBytes) {
      if (!this.#popFrom(this.#victim(writer))) break;
    }
  }

  #victim(writer: Partition<V>): Partition<V> {
    // Floors oversubscribed (nobody is over theirs): the writer yields.
    return this.#pickVictim() ?? writer;
  }

  /**
   * Among the partitions over their floor, the one whose entries earn the
   * fewest hits per byte (a decayed count), ties going to the one furthest
   * over its floor. A workspace scanning unique keys earns no hits, so it
   * loses its own entries first while the others keep their working sets.
   * Rescanning the over-floor set on every eviction would cost O(workspaces);
   * the choice is cached and rescanned every 32 evictions or when the cached
   * victim drops to its floor.
   */
  #pickVictim(): Partition<V> | undefined {
    const cached = this.#heaviest;
    if (cached !== undefined && cached.overFloor && ++this.#picksSinceScan < 32) return cached;
    this.#picksSinceScan = 0;
    let best: Partition<V> | undefined;
    let bestScore = Infinity;
    let bestOver = 0;
    for (const partition of this.overFloor) {
      partition.hitScore = partition.hitScore / 2 + (partition.hits - partition.scoredHits);
      partition.scoredHits = partition.hits;
      const score = partition.hitScore / partition.bytes;
      const over = partition.bytes - partition.floor;
      if (score < bestScore || (score === bestScore && over > bestOver)) {
        best = partition;
        bestScore = score;
        bestOver = over;
      }
    }
    this.#heaviest = best;
    return best;
  }

  #track(partition: Partition<V>): void {
    const over = partition.bytes > partition.floor;
    if (over === partition.overFloor) return;
    partition.overFloor = over;
    if (over) this.overFloor.add(partition);
    else this.overFloor.delete(partition);
  }
}
