import { LRUCache } from "lru-cache";
import { Ok, type Result } from "neverthrow";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { CacheError } from "./errors.js";
import type { DueQueue } from "./expiry.js";

/**
 * One cached value. The entry *is* the `Ok` a hit returns (a neverthrow Ok
 * with one extra field), so a fill allocates one object and a hit none. It is
 * kept that small because a hit touches it: its size lives in the LRU (passed
 * to lru-cache's set), and its stale-until instant is `expiresAt + graceMs`.
 */
export class Entry<V> extends Ok<V | undefined, never> {
  constructor(
    value: V | undefined,
    /** Fresh until this instant (ms); `Infinity` when there is no TTL. */
    readonly expiresAt: number,
  ) {
    super(value);
  }
}

/**
 * An expired entry kept for stale-while-revalidate until `expiresAt +
 * graceMs`: out of the LRU (whose entries are all fresh), still counted in
 * the partition's bytes, and the first to go when room is needed.
 */
export interface StaleEntry<V> {
  readonly entry: Entry<V>;
  readonly size: number;
}

/**
 * A load in progress for one key. `fenced` is set when the key is written,
 * deleted or its workspace cleared while the load runs: the load's value is
 * then returned to its callers but never written back (no delete-then-stale-set).
 */
export interface Flight<V> {
  fenced: boolean;
  promise: Promise<Result<V | undefined, CacheError>>;
}

/** A Redis-tier set waiting for its write (see RedisWorkspaceCache.set): fenced like a load. */
export interface WriteFence {
  fenced: boolean;
}

/**
 * Whether the last set of any partition's LRU added a key (rather than
 * replacing one's value), reported by lru-cache's `onInsert`: with the entry
 * counts before and after, it tells how many entries that set evicted.
 * Sets are synchronous, so one module-wide flag is never shared by two.
 */
export const lastInsert = { added: false };

function noteInsert(_value: unknown, _key: string, reason: "add" | "update" | "replace"): void {
  lastInsert.added = reason === "add";
}

/**
 * One workspace's share of the cache: its own LRU (so its entries never mix
 * with another workspace's, whatever the key strings are), its byte count and
 * its budget. Clearing a workspace detaches the whole partition, which is
 * O(1) whatever it holds.
 */
export class Partition<V> {
  lru: LRUCache<string, Entry<V>>;
  bytes = 0;
  /** Set when the workspace was cleared; handles then re-resolve their partition. */
  detached = false;
  /** True while `bytes > floor` (membership of the budget's over-floor set). */
  overFloor = false;
  readonly flights = new Map<string, Flight<V>>();
  /** Redis-tier sets in flight (created on first use); an invalidation of the key fences them. */
  writes: Map<string, WriteFence> | undefined = undefined;
  /** Already waiting for a reclaim check (see CacheCore.maybeEmpty). */
  reclaimQueued = false;
  /** Expired entries still within their grace period (created on first use). */
  stale: Map<string, StaleEntry<V>> | undefined = undefined;
  /** Due instants of this partition's entries (see ExpirySchedule; created on first TTL). */
  due: DueQueue | undefined = undefined;
  /** The earliest instant in `due`, and this partition's slot in the schedule's heap (-1: none). */
  nextDue = Infinity;
  dueIndex = -1;
  // Counters live directly on the partition (one field increment per hit).
  hits = 0;
  misses = 0;
  staleHits = 0;
  loads = 0;
  loadFailures = 0;
  /** Entries this workspace lost to make room (its own cap, or the shared pool). */
  evictions = 0;
  /** Decayed hit count, updated when the budget looks for a victim (hits per byte decide). */
  hitScore = 0;
  scoredHits = 0;
  /** Counts already pushed to the metrics sink. */
  flushedHits = 0;
  flushedMisses = 0;
  flushedEvictions = 0;
  flushedStaleHits = 0;
  flushedLoads = 0;
  flushedLoadFailures = 0;

  constructor(
    readonly workspaceId: WorkspaceId,
    readonly floor: number,
    readonly cap: number,
  ) {
    // lru-cache enforces the cap itself (maxSize), evicting this workspace's
    // least recently used entries inside its set: no second call per eviction.
    // There is no dispose callback: byte changes are read from calculatedSize
    // and evictions from the entry count (see CacheCore.store), which keeps
    // lru-cache's set on its fastest path. Every set passes the entry's size,
    // so there is no sizeCalculation.
    this.lru = new LRUCache<string, Entry<V>>({ maxSize: cap, onInsert: noteInsert });
  }

  /** Entries held: the LRU's (fresh) and the stale ones, which still hold bytes. */
  get entries(): number {
    return this.lru.size + (this.stale?.size ?? 0);
  }

  /** Drops the stale entry of `key`, if any, and returns its size. */
  dropStale(key: string): number | undefined {
    const stale = this.stale?.get(key);
    if (stale === undefined) return undefined;
    (this.stale as Map<string, StaleEntry<V>>).delete(key);
    return stale.size;
  }

  /** Drops the stale entry that expired first (insertion order) and returns its size. */
  popStale(): number | undefined {
    const stale = this.stale;
    if (stale === undefined) return undefined;
    for (const [key, entry] of stale) {
      stale.delete(key);
      return entry.size;
    }
    return undefined;
  }

  /**
   * Nothing held and nothing pending: no entries (fresh or stale), no load
   * and no Redis-tier write in flight. Such a partition is reclaimed once it
   * has stayed idle until the reclaim timer (see CacheCore.maybeEmpty).
   */
  get idle(): boolean {
    return this.lru.size === 0 && (this.stale?.size ?? 0) === 0 && this.flights.size === 0 && (this.writes?.size ?? 0) === 0;
  }

  /** Marks every in-flight load and write as fenced (its value will not be stored). */
  fenceAll(): void {
    for (const flight of this.flights.values()) flight.fenced = true;
    this.flights.clear();
    if (this.writes !== undefined) {
      for (const write of this.writes.values()) write.fenced = true;
      this.writes.clear();
    }
  }

  /** Fences the in-flight load of one key, if any. */
  fence(key: string): void {
    const flight = this.flights.get(key);
    if (flight !== undefined) {
      flight.fenced = true;
      this.flights.delete(key);
    }
  }

  /** Fences the in-flight Redis-tier write of one key, if any. */
  fenceWrite(key: string): void {
    const write = this.writes?.get(key);
    if (write !== undefined) {
      write.fenced = true;
      (this.writes as Map<string, WriteFence>).delete(key);
    }
  }

  /** Registers a write of `key` about to be sent (fencing any earlier one: it is superseded). */
  openWrite(key: string): WriteFence {
    this.fenceWrite(key);
    const write: WriteFence = { fenced: false };
    (this.writes ??= new Map()).set(key, write);
    return write;
  }

  closeWrite(key: string, write: WriteFence): void {
    if (this.writes?.get(key) === write) this.writes.delete(key);
  }
}

/**
 * What a detached partition reads from: always empty, never written. Built
 * like every partition's LRU (`maxSize`, plain arrays), not with `max` (typed
 * arrays): lru-cache's methods are shared by all its instances, and one read
 * through a cleared handle from a differently built LRU would make every
 * partition's inlined `get` polymorphic (up to a quarter slower) from then on.
 */
export const EMPTY_LRU = new LRUCache<string, Entry<never>>({ maxSize: Number.MAX_SAFE_INTEGER, onInsert: noteInsert });

/** A partition that was never attached: a placeholder for "no partition yet" (reads from EMPTY_LRU). */
export function detachedPartition<V>(): Partition<V> {
  const p = new Partition<V>("" as WorkspaceId, 0, 1);
  p.detached = true;
  p.lru = EMPTY_LRU as unknown as Partition<V>["lru"];
  return p;
}
