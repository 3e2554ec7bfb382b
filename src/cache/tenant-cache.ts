import { err, ok, type Result } from "neverthrow";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import type { InvalidWorkspaceIdError } from "../core/errors.js";
import { ClockedCacheCore, makeCore, MISS, type CacheCore, type SetOptions } from "./core.js";
import { invalidKey, ttlProblem, type CacheError } from "./errors.js";
import { fetchFromLoader, loadThrough, type Loader } from "./load.js";
import type { TenantCacheOptions } from "./options.js";
import { detachedPartition, Partition } from "./partition.js";
import { collectStats, type CacheStats } from "./stats.js";
import { ClockedWorkspaceCache, OK_VOID, WorkspaceCache } from "./workspace-cache.js";

/**
 * What a missing (null or undefined) argument reads as: no workspace id and no
 * key, so the call is an InvalidWorkspaceId Err rather than a TypeError from
 * destructuring null.
 */
export const NO_PARAMS = {} as CacheKeyParams;

/** Identifies one entry in the object-form API (Dittofeed's call style). */
export interface CacheKeyParams {
  readonly workspaceId: string;
  readonly key: string;
}

/**
 * TenantCache: an in-process cache partitioned by workspace, with byte
 * budgets (a guaranteed floor per workspace plus a shared pool), O(1)
 * workspace clear, TTL with jitter, negative caching, stale-while-revalidate
 * and single-flight fenced loads. Built on lru-cache: each workspace has its
 * own LRU, so no key string can ever address another workspace's entry.
 *
 * @example
 * const cache = new TenantCache<Journey[]>({ maxBytes: 64 * 1024 * 1024, ttlMs: 30_000 });
 * const journeys = await cache.getOrLoad({ workspaceId, key: "event-triggered" }, () => findJourneys(workspaceId));
 */
export class TenantCache<V> {
  /** @internal shared with the Redis tier. */
  readonly core: CacheCore<V>;
  // Read by the object-form get: TS-private (a #private field costs a brand check per access).
  private readonly maxKeyLength: number;
  /** The partition the object-form get read last (a detached placeholder at first). */
  private last: Partition<V>;
  #timer: NodeJS.Timeout | undefined;

  /** Throws a TypeError listing every invalid option. */
  constructor(options: TenantCacheOptions<V>) {
    this.core = makeCore<V>(options);
    this.maxKeyLength = this.core.options.maxKeyLength;
    this.last = detachedPartition<V>();
    if (options.metrics !== undefined) {
      this.#timer = setInterval(() => this.flushMetrics(), options.metricsFlushMs ?? 10_000);
      this.#timer.unref();
    }
  }

  /** A handle bound to one workspace (see WorkspaceCache), or InvalidWorkspaceId. */
  workspace(workspaceId: string): Result<WorkspaceCache<V>, InvalidWorkspaceIdError> {
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    const core = this.core;
    return ok(core instanceof ClockedCacheCore ? new ClockedWorkspaceCache(core, id.value) : new WorkspaceCache(core, id.value));
  }

  get(params: CacheKeyParams): Result<V | undefined, CacheError> {
    const { workspaceId, key } = params ?? NO_PARAMS;
    // Fast path: the partition of the last workspace read this way, while it
    // is live (a live partition is the one its id maps to), else the map of
    // partitions, keyed by normalised ids only, so finding the raw string
    // there proves it a valid, normalised workspace id. Consecutive reads of
    // one workspace (a request's several keys) skip the map lookup, about a
    // sixth of a hit; other traffic pays one string comparison for it.
    let p = this.last;
    if (workspaceId !== p.workspaceId || p.detached) {
      const known = this.core.partitions.get(workspaceId as WorkspaceId);
      if (known === undefined) return this.getSlow(workspaceId, key);
      p = this.last = known;
    }
    if (typeof key === "string" && key.length <= this.maxKeyLength) return this.core.read(p, key);
    return this.getSlow(workspaceId, key);
  }

  set(params: CacheKeyParams & { readonly value: V } & SetOptions): Result<void, CacheError> {
    const { workspaceId, key, value, ttlMs } = params ?? (NO_PARAMS as typeof params);
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    if (typeof key !== "string" || key.length > this.core.options.maxKeyLength) return err(this.#badKey(key, id.value));
    const badTtl = ttlProblem(ttlMs, id.value);
    if (badTtl !== undefined) return err(badTtl);
    const p = this.core.setNew(id.value, key, value, ttlMs);
    return p instanceof Partition ? OK_VOID : err(p);
  }

  delete(params: CacheKeyParams): Result<boolean, CacheError> {
    const { workspaceId, key } = params ?? NO_PARAMS;
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    if (typeof key !== "string" || key.length > this.core.options.maxKeyLength) return err(this.#badKey(key, id.value));
    const p = this.core.partitions.get(id.value);
    return ok(p === undefined ? false : this.core.remove(p, key));
  }

  getOrLoad(params: CacheKeyParams, loader: Loader<V>): Promise<Result<V | undefined, CacheError>> {
    const { workspaceId, key } = params ?? NO_PARAMS;
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return Promise.resolve(err(id.error));
    if (typeof key !== "string" || key.length > this.core.options.maxKeyLength) {
      return Promise.resolve(err(this.#badKey(key, id.value)));
    }
    return loadThrough(this.core, id.value, key, fetchFromLoader(loader, { workspaceId: id.value, key }));
  }

  /** Drops every entry of one workspace in O(1), whatever it holds. */
  clear(params: { readonly workspaceId: string }): Result<void, InvalidWorkspaceIdError> {
    const id = parseWorkspaceId((params ?? NO_PARAMS).workspaceId);
    if (id.isErr()) return err(id.error);
    this.core.clear(id.value);
    return OK_VOID;
  }

  /** Cache-wide totals (hits, misses, loads…, bytes, entries) and the live partitions' counts and budgets. */
  stats(): CacheStats {
    return collectStats(this.core);
  }

  /** Pushes accumulated counts (and each workspace's bytes) to the metrics sink now (also done on a timer when a sink is set). */
  flushMetrics(): void {
    this.core.flushMetrics();
  }

  /** Stops the metrics timer (entries stay readable). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.flushMetrics();
  }

  /** The object-form read for an unknown or malformed workspace id, or a bad key. */
  private getSlow(workspaceId: string, key: string): Result<V | undefined, CacheError> {
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    if (typeof key !== "string" || key.length > this.maxKeyLength) return err(this.#badKey(key, id.value));
    const p = this.core.partitions.get(id.value);
    if (p === undefined) {
      // No partition to count it on: still a miss, for stats() and the metrics sink.
      this.core.missWithoutPartition(id.value);
      return MISS;
    }
    return this.core.read(p, key);
  }

  #badKey(key: unknown, id: WorkspaceId): CacheError {
    return this.core.checkKey(key, id) ?? invalidKey(key, "rejected", id);
  }
}
