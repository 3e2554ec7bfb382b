import type { LRUCache } from "lru-cache";
import { err, ok, type Result } from "neverthrow";
import type { TenancyLogger } from "../core/logger.js";
import { silentLogger } from "../core/logger.js";
import { noopMetricsSink, type TenantMetricsSink } from "../core/metrics-sink.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import { Budget } from "./budget.js";
import { entryTooLarge, invalidKey, invalidSize, type CacheError } from "./errors.js";
import { makeTime, type CacheTime } from "./now.js";
import { resolveCacheOptions, type ResolvedCacheOptions, type TenantCacheOptions } from "./options.js";
import { EMPTY_LRU, Entry, Partition } from "./partition.js";

/** Per-call options of `set`. */
export interface SetOptions {
  /** Overrides the cache's TTL for this entry (jitter still applies). */
  readonly ttlMs?: number;
}

export const MISS: Result<undefined, never> = ok(undefined);

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
  readonly budget: Budget<V>;
  /** The TTL time source; hit paths read `time.t` (see CacheTime). */
  readonly time: CacheTime;
  readonly now: () => number;
  readonly metrics: TenantMetricsSink;
  readonly logger: TenancyLogger;
  readonly #random: () => number;

  constructor(options: TenantCacheOptions<V>) {
    this.options = resolveCacheOptions(options);
    this.time = makeTime(options.clock);
    this.now = this.time.now;
    this.#random = options.random ?? Math.random;
    this.metrics = options.metrics ?? noopMetricsSink;
    this.logger = options.logger ?? silentLogger;
    this.budget = new Budget<V>(this.options.maxBytes);
  }

  /** The workspace's live partition, created on first write. */
  attach(workspaceId: WorkspaceId): Partition<V> {
    const existing = this.partitions.get(workspaceId);
    if (existing !== undefined) return existing;
    const budget = this.options.budgetFor?.(workspaceId);
    const cap = Math.max(1, Math.floor(clampBytes(budget?.maxBytes, this.options.maxWorkspaceBytes)));
    const floor = Math.min(cap, clampBytes(budget?.floorBytes, this.options.floorBytes));
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

  /** A fresh hit, or MISS. Expired entries past their grace period are dropped here. */
  read(p: Partition<V>, key: string): Result<V | undefined, never> {
    // A fresh hit at a trusted cached time is one field read (see CacheTime);
    // everything else is settled out of line, keeping this small for V8's inliner.
    const entry = p.lru.get(key);
    if (entry !== undefined && entry.expiresAt > this.time.t) {
      p.hits++;
      return entry;
    }
    return this.settle(p, key, entry);
  }

  /**
   * The rest of a read once the LRU lookup is done (the hit paths of the
   * handle and the object form decide the common fresh case themselves and
   * call this otherwise, so the LRU is looked up once): reads the clock,
   * counts the hit or miss, and drops an entry expired past its grace period.
   */
  settle(p: Partition<V>, key: string, entry: Entry<V> | undefined): Result<V | undefined, never> {
    if (entry === undefined) {
      p.misses++;
      return MISS;
    }
    if (entry.expiresAt !== Infinity) {
      const now = this.now();
      if (entry.expiresAt <= now) {
        if (entry.expiresAt + this.options.graceMs <= now) this.#delete(p, key);
        p.misses++;
        return MISS;
      }
    }
    p.hits++;
    return entry;
  }

  /**
   * The size of an entry for `value`, validated: every check happens before
   * anything is written, so a bad value leaves the cache untouched. Returns
   * the size or the error (no Result wrapper: this is the set hot path).
   */
  measure(p: Partition<V> | undefined, workspaceId: WorkspaceId, key: string, value: V | undefined): number | CacheError {
    let size: number;
    if (value === undefined) size = 48 + key.length * 2;
    else {
      try {
        size = this.options.sizeOf(value, key);
      } catch (thrown) {
        return invalidSize(`sizeOf threw for key ${JSON.stringify(key)}`, workspaceId, thrown);
      }
      if (typeof size !== "number" || !Number.isFinite(size) || size < 0) {
        return invalidSize(`sizeOf returned ${String(size)} for key ${JSON.stringify(key)}; expected a finite number ≥ 0`, workspaceId);
      }
    }
    size = size < 1 ? 1 : Math.ceil(size);
    const limit = Math.min(this.options.maxEntryBytes, p?.cap ?? this.capOf(workspaceId));
    if (size > limit) return entryTooLarge(size, limit, workspaceId);
    return size;
  }

  /** A new entry expiring after `ttlMs` (with jitter); never, when `ttlMs` ≤ 0. */
  makeEntry(value: V | undefined, ttlMs: number): Entry<V> {
    let expiresAt = Infinity;
    if (ttlMs > 0) {
      const jitter = this.options.ttlJitter;
      expiresAt = this.now() + (jitter > 0 ? ttlMs * (1 - jitter * this.#random()) : ttlMs);
    }
    return new Entry<V>(value, expiresAt);
  }

  /**
   * Writes an entry of a size validated by `measure`, fencing any load of the
   * same key, then enforces the budget.
   */
  store(p: Partition<V>, key: string, entry: Entry<V>, size: number): void {
    if (p.flights.size !== 0) p.fence(key);
    const lru = p.lru;
    const before = lru.calculatedSize;
    SET_OPTIONS.size = size;
    lru.set(key, entry, SET_OPTIONS as LRUCache.SetOptions<string, Entry<V>, unknown>);
    if (SET_OPTIONS.status !== undefined) SET_OPTIONS.status = undefined;
    this.budget.changed(p, lru.calculatedSize - before);
    if (p.bytes > p.cap) this.budget.trimToCap(p);
    if (this.budget.total > this.budget.maxBytes) this.budget.makeRoom(p);
  }

  remove(p: Partition<V>, key: string): boolean {
    if (p.flights.size !== 0) p.fence(key);
    return this.#delete(p, key);
  }

  #delete(p: Partition<V>, key: string): boolean {
    const before = p.lru.calculatedSize;
    const deleted = p.lru.delete(key);
    if (deleted) this.budget.changed(p, p.lru.calculatedSize - before);
    return deleted;
  }

  /** O(1) workspace clear: the partition is detached whole; in-flight loads are fenced. */
  clear(workspaceId: WorkspaceId): void {
    const p = this.partitions.get(workspaceId);
    if (p === undefined) return;
    this.partitions.delete(workspaceId);
    this.flushMetricsOf(p);
    p.fenceAll();
    this.budget.detach(p);
    p.lru = EMPTY_LRU as unknown as Partition<V>["lru"];
  }

  /** Clears every workspace (used when the invalidation bus may have lost messages). */
  clearAll(): void {
    for (const id of [...this.partitions.keys()]) this.clear(id);
  }

  capOf(workspaceId: WorkspaceId): number {
    return this.partitions.get(workspaceId)?.cap ?? this.attachPreview(workspaceId);
  }

  flushMetricsOf(p: Partition<V>): void {
    const c = p;
    if (c.hits !== c.flushedHits) this.metrics.add(p.workspaceId, "cache_hits_total", c.hits - c.flushedHits);
    if (c.misses !== c.flushedMisses) this.metrics.add(p.workspaceId, "cache_misses_total", c.misses - c.flushedMisses);
    if (c.evictions !== c.flushedEvictions) this.metrics.add(p.workspaceId, "cache_evictions_total", c.evictions - c.flushedEvictions);
    c.flushedHits = c.hits;
    c.flushedMisses = c.misses;
    c.flushedEvictions = c.evictions;
    this.metrics.observe(p.workspaceId, "cache_bytes", p.bytes);
  }

  private attachPreview(workspaceId: WorkspaceId): number {
    const budget = this.options.budgetFor?.(workspaceId);
    return Math.max(1, Math.floor(clampBytes(budget?.maxBytes, this.options.maxWorkspaceBytes)));
  }
}

function clampBytes(value: number | undefined, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fallback;
}
