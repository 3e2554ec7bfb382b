import type { LRUCache } from "lru-cache";
import { err, ok, type Result } from "neverthrow";
import { describeValue } from "../core/errors.js";
import type { TenancyLogger } from "../core/logger.js";
import { silentLogger } from "../core/logger.js";
import { noopMetricsSink, type TenantMetricsSink } from "../core/metrics-sink.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import { Budget } from "./budget.js";
import { entryTooLarge, invalidKey, invalidSize, type CacheError } from "./errors.js";
import { ExpirySchedule } from "./expiry.js";
import { makeTime, type CacheTime } from "./now.js";
import { BudgetPlans, type PartitionBudget } from "./budget-plans.js";
import { resolveCacheOptions, type ResolvedCacheOptions, type TenantCacheOptions } from "./options.js";
import { detachedPartition, EMPTY_LRU, Entry, lastInsert, Partition } from "./partition.js";
import { systemClock } from "../core/clock.js";

/** Per-call options of `set`. */
export interface SetOptions {
  /** Overrides the cache's TTL for this entry (jitter still applies). */
  readonly ttlMs?: number;
}

export const MISS: Result<undefined, never> = ok(undefined);

/**
 * How long a partition that became idle waits before it is reclaimed (one
 * timer for all of them, armed when the first becomes idle). A workspace
 * that empties and fills again meanwhile (set, delete, set…) keeps its
 * partition instead of paying for a new one (an LRU and a budgetFor call)
 * each time.
 */
export const RECLAIM_DELAY_MS = 1_000;
/**
 * Idle partitions waiting past this many are reclaimed once the current
 * synchronous work is done, without waiting for the timer: what waiting
 * costs stays bounded (about 2 KB a partition) however many workspaces a
 * burst of loads that cache nothing touches.
 */
export const MAX_IDLE_WAITING = 1_024;
/** Workspaces with misses waiting for the metrics sink (see missWithoutPartition) past this many are pushed at once. */
const MAX_PENDING_MISSES = 1_024;

/** Cache-wide counts (see CacheStats). */
export interface CacheCounts {
  hits: number;
  misses: number;
  staleHits: number;
  loads: number;
  loadFailures: number;
}

/** Adds one set of counts (a partition's) into another. */
export function addCounts(into: CacheCounts, from: CacheCounts): void {
  into.hits += from.hits;
  into.misses += from.misses;
  into.staleHits += from.staleHits;
  into.loads += from.loads;
  into.loadFailures += from.loadFailures;
}

/**
 * The options of every LRU set: one shared object whose `size` is set before
 * each call (no allocation per set). lru-cache writes `status` into the
 * options it is given, so that field exists from the start (a stable shape)
 * and is cleared after a set that used it.
 */
const SET_OPTIONS: { size: number; status: undefined | object } = { size: 0, status: undefined };

/**
 * The machinery shared by the workspace handle and the object-form API:
 * partitions, the byte budget, entry creation and TTL checks. Not exported
 * from the package; `TenantCache` and `WorkspaceCache` are the public faces.
 */
export class CacheCore<V> {
  readonly options: ResolvedCacheOptions<V>;
  readonly partitions = new Map<WorkspaceId, Partition<V>>();
  /** What a handle holds while its workspace has no partition: detached, so it re-resolves on a miss. */
  readonly unattached: Partition<V> = detachedPartition<V>();
  readonly budget: Budget<V>;
  /** The time source for new entries' expiry (see CacheTime). */
  readonly time: CacheTime;
  /** Removes entries from the LRUs when they expire, so an LRU hit is fresh (see ExpirySchedule). */
  readonly expiry: ExpirySchedule<V>;
  readonly now: () => number;
  /** The clock itself, never a cached reading: getOrLoad's freshness and grace checks (see loadThrough). */
  readonly exactNow: () => number;
  readonly metrics: TenantMetricsSink;
  readonly logger: TenancyLogger;
  readonly #random: () => number;
  /**
   * The counts of partitions no longer live (cleared or reclaimed), plus the
   * misses of workspaces that had no partition: with the live partitions'
   * counts, the cache-wide totals of stats(), which never lose a count.
   */
  readonly past: CacheCounts = { hits: 0, misses: 0, staleHits: 0, loads: 0, loadFailures: 0 };
  /** Partitions that may have become idle, checked by the reclaim timer (see maybeEmpty). */
  #maybeIdle: Partition<V>[] = [];
  #reclaimTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Misses of workspaces with no partition, per workspace, until the next
   * metrics flush (only with a metrics sink; bounded by MAX_PENDING_MISSES).
   */
  readonly #pendingMisses: Map<WorkspaceId, number> | undefined;
  readonly #plans: BudgetPlans;

  /** @param timed expire entries on a timer (system clock); see makeCore. */
  constructor(options: TenantCacheOptions<V>, timed = true) {
    this.options = resolveCacheOptions(options);
    this.time = makeTime(options.clock);
    this.now = this.time.now;
    this.exactNow = this.time.exact;
    this.#random = options.random ?? Math.random;
    this.metrics = options.metrics ?? noopMetricsSink;
    this.#pendingMisses = options.metrics === undefined ? undefined : new Map();
    this.logger = options.logger ?? silentLogger;
    this.budget = new Budget<V>(this.options.maxBytes, (p) => this.maybeEmpty(p));
    this.expiry = new ExpirySchedule<V>((p, key, now) => this.expireKey(p, key, now), this.options.graceMs, timed);
    this.#plans = new BudgetPlans(this.options, this.logger);
  }

  /**
   * Expires what is due before a read. A no-op here: with the system clock a
   * timer does it (see ExpirySchedule); ClockedCacheCore reads its clock.
   */
  expireDue(): void {}

  /**
   * The workspace's live partition, created when something is to be held
   * (an entry, a load, a Redis-tier write) and reclaimed once idle again.
   * `budget` is the one a caller already got from budgetOf (to size the
   * entry first), so `budgetFor` is asked once per partition created.
   */
  attach(workspaceId: WorkspaceId, budget?: PartitionBudget): Partition<V> {
    const existing = this.partitions.get(workspaceId);
    if (existing !== undefined) return existing;
    const { floor, cap } = budget ?? this.budgetOf(workspaceId);
    const partition = new Partition<V>(workspaceId, floor, cap);
    this.partitions.set(workspaceId, partition);
    return partition;
  }

  /** The partition to read from: the live one, or a detached (empty) one. */
  lookup(workspaceId: WorkspaceId, stale: Partition<V>): Partition<V> {
    return this.partitions.get(workspaceId) ?? stale;
  }

  checkKey(key: unknown, workspaceId: WorkspaceId): CacheError | undefined {
    if (typeof key !== "string") return invalidKey(key, "keys must be strings", workspaceId);
    if (key.length > this.options.maxKeyLength) {
      return invalidKey(key, `longer than maxKeyLength (${this.options.maxKeyLength})`, workspaceId);
    }
    return undefined;
  }

  /**
   * A hit, or MISS. Every entry in a partition's LRU is fresh (expired ones
   * are taken out by the expiry timer, to event-loop-turn granularity, see
   * ExpirySchedule), so there is no time check (getOrLoad does its own).
   */
  read(p: Partition<V>, key: string): Result<V | undefined, never> {
    const entry = p.lru.get(key);
    if (entry !== undefined) {
      p.hits++;
      return entry;
    }
    p.misses++;
    return MISS;
  }

  /**
   * The size of an entry for `value`, validated: every check happens before
   * anything is written, so a bad value leaves the cache untouched. Returns
   * the size or the error (no Result wrapper: this is the set hot path).
   */
  measure(cap: number, workspaceId: WorkspaceId, key: string, value: V | undefined): number | CacheError {
    let size: number;
    if (value === undefined) size = 48 + key.length * 2;
    else {
      try {
        size = this.options.sizeOf(value, key);
      } catch (thrown) {
        return invalidSize(`sizeOf threw for key ${JSON.stringify(key)}`, workspaceId, thrown);
      }
      if (typeof size !== "number" || !Number.isFinite(size) || size < 0) {
        return invalidSize(`sizeOf returned ${describeValue(size)} for key ${JSON.stringify(key)}; expected a finite number ≥ 0`, workspaceId);
      }
    }
    size = size < 1 ? 1 : Math.ceil(size);
    const limit = Math.min(this.options.maxEntryBytes, cap);
    if (size > limit) return entryTooLarge(size, limit, workspaceId);
    return size;
  }

  /** A new entry expiring after `ttlMs` (with jitter); never, when `ttlMs` ≤ 0. */
  makeEntry(value: V | undefined, ttlMs: number): Entry<V> {
    // No TTL (the common set): no clock and no extra call on the hot path.
    return ttlMs > 0 ? this.#entry(value, ttlMs, this.now) : new Entry<V>(value, Infinity);
  }

  /**
   * makeEntry with the TTL counted from the clock itself (exactNow), not the
   * cached reading: for fills and Redis-tier sets, which finish after an
   * await, possibly after the event loop was blocked, when the cached
   * reading is as old as the block. Their entries would be stored already
   * expired, and getOrLoad (which checks expiry on the clock) would load
   * again on every call. One clock reading per fill; a local set, which runs
   * in the same synchronous stretch as its caller, keeps the cached reading.
   */
  makeEntryNow(value: V | undefined, ttlMs: number): Entry<V> {
    return this.#entry(value, ttlMs, this.exactNow);
  }

  #entry(value: V | undefined, ttlMs: number, now: () => number): Entry<V> {
    let expiresAt = Infinity;
    if (ttlMs > 0) {
      const jitter = this.options.ttlJitter;
      expiresAt = now() + (jitter > 0 ? ttlMs * (1 - jitter * this.#random()) : ttlMs);
    }
    return new Entry<V>(value, expiresAt);
  }

  /**
   * A set that may create the workspace's partition: measured against the
   * budget the partition has or will get before one is created (a refused
   * value leaves no trace), with one `budgetFor` call. Returns the partition.
   */
  setNew(workspaceId: WorkspaceId, key: string, value: V, ttlMs: number | undefined): Partition<V> | CacheError {
    const budget = this.partitions.get(workspaceId) ?? this.budgetOf(workspaceId);
    const size = this.measure(budget.cap, workspaceId, key, value);
    if (typeof size !== "number") return size;
    const p = this.attach(workspaceId, budget);
    this.store(p, key, this.makeEntry(value, ttlMs ?? this.options.ttlMs), size);
    return p;
  }

  /**
   * Writes an entry of a size validated by `measure`, fencing any load and
   * any Redis-tier write of the same key (their values are older than this
   * one), then enforces the budget.
   */
  store(p: Partition<V>, key: string, entry: Entry<V>, size: number): void {
    if (p.flights.size !== 0) p.fence(key);
    if (p.writes !== undefined) p.fenceWrite(key);
    if (p.stale !== undefined) this.#roomFromStale(p, key, size);
    const lru = p.lru;
    const bytesBefore = lru.calculatedSize;
    const entriesBefore = lru.size;
    SET_OPTIONS.size = size;
    lastInsert.added = false;
    // Past the workspace's cap, lru-cache evicts its least recently used entries here.
    lru.set(key, entry, SET_OPTIONS as LRUCache.SetOptions<string, Entry<V>, unknown>);
    if (SET_OPTIONS.status !== undefined) SET_OPTIONS.status = undefined;
    const evicted = entriesBefore - lru.size + (lastInsert.added ? 1 : 0);
    if (evicted !== 0) this.budget.evicted(p, evicted);
    this.budget.changed(p, lru.calculatedSize - bytesBefore);
    if (entry.expiresAt !== Infinity) this.expiry.add(p, key, entry.expiresAt);
    if (p.bytes > p.cap) this.budget.trimToCap(p);
    if (this.budget.total > this.budget.maxBytes) this.budget.makeRoom(p);
  }

  /**
   * Drops the stale entry of `key`, then, if the new entry would take the
   * workspace past its cap (net of the entry it replaces), expired entries
   * kept for stale-while-revalidate go before lru-cache evicts any fresh one.
   */
  #roomFromStale(p: Partition<V>, key: string, size: number): void {
    this.#dropStale(p, key);
    const replaced = p.lru.info(key)?.size ?? 0;
    while (p.bytes - replaced + size > p.cap && this.budget.popStale(p));
  }

  /** Deletes a key's entry (a stale one too), fencing its load and Redis-tier write; true if there was one. */
  remove(p: Partition<V>, key: string): boolean {
    if (p.flights.size !== 0) p.fence(key);
    if (p.writes !== undefined) p.fenceWrite(key);
    const deleted = this.#delete(p, key);
    const removed = (p.stale !== undefined && this.#dropStale(p, key)) || deleted;
    if (p.lru.size === 0) this.maybeEmpty(p);
    return removed;
  }

  #dropStale(p: Partition<V>, key: string): boolean {
    const size = p.dropStale(key);
    if (size === undefined) return false;
    this.budget.changed(p, -size);
    return true;
  }

  /**
   * One due record of `key` (see ExpirySchedule), or an expired entry a
   * getOrLoad found before the timer did: an LRU entry expired at `now`
   * leaves the LRU, kept as stale until its grace period ends (its bytes
   * still counted) or dropped; a stale entry past its grace period is
   * dropped. Anything else (a newer entry, nothing) is not due.
   */
  expireKey(p: Partition<V>, key: string, now: number): void {
    const entry = p.lru.peek(key);
    if (entry !== undefined && entry.expiresAt <= now) {
      const before = p.lru.calculatedSize;
      p.lru.delete(key);
      const size = before - p.lru.calculatedSize;
      const staleUntil = entry.expiresAt + this.options.graceMs;
      if (staleUntil > now) {
        this.#dropStale(p, key);
        (p.stale ??= new Map()).set(key, { entry, size });
        this.expiry.add(p, key, staleUntil);
      } else {
        this.budget.changed(p, -size);
        if (p.lru.size === 0) this.maybeEmpty(p);
      }
      return;
    }
    const stale = p.stale?.get(key);
    if (stale !== undefined && stale.entry.expiresAt + this.options.graceMs <= now) {
      this.#dropStale(p, key);
      if (p.lru.size === 0) this.maybeEmpty(p);
    }
  }

  #delete(p: Partition<V>, key: string): boolean {
    const before = p.lru.calculatedSize;
    const deleted = p.lru.delete(key);
    if (deleted) this.budget.changed(p, p.lru.calculatedSize - before);
    return deleted;
  }

  /** O(1) workspace clear: the partition is detached whole; in-flight loads and writes are fenced. */
  clear(workspaceId: WorkspaceId): void {
    const p = this.partitions.get(workspaceId);
    if (p === undefined) return;
    p.fenceAll();
    this.#detach(p);
  }

  /**
   * Notes that `p` may have become idle (its last entry, load or write gone).
   * Idle partitions are reclaimed, otherwise every workspace ever read would
   * keep one (about 2 KB), but not at once: the check runs when the reclaim
   * timer fires (RECLAIM_DELAY_MS after the first partition became idle), so
   * a workspace that empties and fills again in the meantime keeps its
   * partition, a caller may go on using `p` (remove, then register a write)
   * and an expiry pass never sees its partitions vanish mid-loop. Past
   * MAX_IDLE_WAITING waiting partitions, the check runs once the current
   * synchronous work is done.
   */
  maybeEmpty(p: Partition<V>): void {
    if (p.reclaimQueued || p.detached) return;
    p.reclaimQueued = true;
    const waiting = this.#maybeIdle.push(p);
    if (waiting === 1) {
      this.#reclaimTimer = setTimeout(this.reclaimIdle, RECLAIM_DELAY_MS);
      this.#reclaimTimer.unref?.();
    } else if (waiting === MAX_IDLE_WAITING) queueMicrotask(this.reclaimIdle);
  }

  /** Reclaims the partitions noted by maybeEmpty that are still idle (the reclaim timer runs it). */
  readonly reclaimIdle = (): void => {
    if (this.#reclaimTimer !== undefined) {
      clearTimeout(this.#reclaimTimer);
      this.#reclaimTimer = undefined;
    }
    const candidates = this.#maybeIdle;
    if (candidates.length === 0) return;
    this.#maybeIdle = [];
    for (const p of candidates) {
      p.reclaimQueued = false;
      if (!p.detached && p.idle && this.partitions.get(p.workspaceId) === p) this.#detach(p);
    }
  };

  /**
   * Takes a partition out of service whole (a clear, or a reclaim of an idle
   * one): its counts go to the metrics sink and to the cache-wide totals
   * first, handles holding it see it detached and re-resolve, and it reads
   * from the always-empty LRU.
   */
  #detach(p: Partition<V>): void {
    this.partitions.delete(p.workspaceId);
    this.flushMetricsOf(p, false);
    addCounts(this.past, p);
    this.budget.detach(p);
    this.expiry.forget(p);
    p.stale = undefined;
    p.lru = EMPTY_LRU as unknown as Partition<V>["lru"];
  }

  /** Clears every workspace (used when the invalidation bus may have lost messages). */
  clearAll(): void {
    for (const id of [...this.partitions.keys()]) this.clear(id);
  }

  /** The cap of the workspace's partition, or of the one it would get. */
  capOf(workspaceId: WorkspaceId): number {
    return (this.partitions.get(workspaceId) ?? this.budgetOf(workspaceId)).cap;
  }

  /**
   * A read of a workspace that has no partition: counted in the cache-wide
   * totals and, with a metrics sink, per workspace until the next flush (a
   * bounded map: past MAX_PENDING_MISSES workspaces it is pushed at once).
   */
  missWithoutPartition(workspaceId: WorkspaceId): void {
    this.past.misses++;
    const pending = this.#pendingMisses;
    if (pending === undefined) return;
    pending.set(workspaceId, (pending.get(workspaceId) ?? 0) + 1);
    if (pending.size >= MAX_PENDING_MISSES) this.#flushPendingMisses();
  }

  /** A failed load: counted on its partition, or pushed at once when that partition is gone (cleared while loading). */
  loadFailed(p: Partition<V>): void {
    if (!p.detached) {
      p.loadFailures++;
      return;
    }
    this.past.loadFailures++;
    this.metrics.add(p.workspaceId, "cache_load_failures_total", 1);
  }

  /** Pushes every count not yet pushed, and each live partition's bytes, to the metrics sink. */
  flushMetrics(): void {
    for (const p of this.partitions.values()) this.flushMetricsOf(p, true);
    this.#flushPendingMisses();
  }

  #flushPendingMisses(): void {
    const pending = this.#pendingMisses;
    if (pending === undefined || pending.size === 0) return;
    for (const [workspaceId, misses] of pending) this.metrics.add(workspaceId, "cache_misses_total", misses);
    pending.clear();
  }

  /**
   * Pushes the partition's counts not yet pushed; `observeBytes` at a flush
   * (a partition being detached holds nothing worth observing: a reclaimed
   * one 0 bytes, a cleared one bytes it no longer holds).
   */
  flushMetricsOf(p: Partition<V>, observeBytes: boolean): void {
    const metrics = this.metrics;
    const id = p.workspaceId;
    if (p.hits !== p.flushedHits) metrics.add(id, "cache_hits_total", p.hits - p.flushedHits);
    if (p.misses !== p.flushedMisses) metrics.add(id, "cache_misses_total", p.misses - p.flushedMisses);
    if (p.evictions !== p.flushedEvictions) metrics.add(id, "cache_evictions_total", p.evictions - p.flushedEvictions);
    if (p.staleHits !== p.flushedStaleHits) metrics.add(id, "cache_stale_hits_total", p.staleHits - p.flushedStaleHits);
    if (p.loads !== p.flushedLoads) metrics.add(id, "cache_loads_total", p.loads - p.flushedLoads);
    if (p.loadFailures !== p.flushedLoadFailures) metrics.add(id, "cache_load_failures_total", p.loadFailures - p.flushedLoadFailures);
    p.flushedHits = p.hits;
    p.flushedMisses = p.misses;
    p.flushedEvictions = p.evictions;
    p.flushedStaleHits = p.staleHits;
    p.flushedLoads = p.loads;
    p.flushedLoadFailures = p.loadFailures;
    if (observeBytes) metrics.observe(id, "cache_bytes", p.bytes);
  }

  /**
   * The budget a partition of this workspace gets: asked of `budgetFor` (one
   * call; callers that size an entry before creating the partition pass it
   * on to attach), else the defaults.
   */
  budgetOf(workspaceId: WorkspaceId): PartitionBudget {
    return this.#plans.budgetOf(workspaceId);
  }
}

/**
 * The core for an injected clock: no timer can follow a manual clock, so
 * every read first expires what is due at the clock's time (exact TTLs in tests).
 */
export class ClockedCacheCore<V> extends CacheCore<V> {
  constructor(options: TenantCacheOptions<V>) {
    super(options, false);
  }

  override expireDue(): void {
    this.expiry.expireDue(this.now());
  }

  override read(p: Partition<V>, key: string): Result<V | undefined, never> {
    this.expireDue();
    return super.read(p, key);
  }
}

/** The core for these options: clocked when a clock other than the system clock is injected. */
export function makeCore<V>(options: TenantCacheOptions<V>): CacheCore<V> {
  return options.clock === undefined || options.clock === systemClock ? new CacheCore<V>(options) : new ClockedCacheCore<V>(options);
}
