import type { Entry, Partition } from "./partition.js";

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

  constructor(
    readonly maxBytes: number,
    private readonly onEvicted: (partition: Partition<V>) => void,
  ) {}

  added(partition: Partition<V>, size: number): void {
    partition.bytes += size;
    this.total += size;
    this.#track(partition);
  }

  /** Called from the partition LRU's dispose: replaced, deleted or evicted entries. */
  removed(partition: Partition<V>, entry: Entry<V>, evicted: boolean): void {
    if (partition.detached) return;
    partition.bytes -= entry.size;
    this.total -= entry.size;
    this.#track(partition);
    if (evicted) {
      partition.evictions++;
      this.evictions++;
      this.onEvicted(partition);
    }
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

  /** Evicts until the total fits, after `writer` added an entry. */
  makeRoom(writer: Partition<V>): void {
    while (this.total > this.maxBytes) {
      const victim = this.#victim(writer);
      if (victim.lru.pop() === undefined) break;
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
