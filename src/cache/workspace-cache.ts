import { err, ok, type Result } from "neverthrow";
import type { WorkspaceId } from "../core/workspace-id.js";
import { MISS, type CacheCore, type SetOptions } from "./core.js";
import { invalidKey, ttlProblem, type CacheError } from "./errors.js";
import { fetchFromLoader, loadThrough, type Loader } from "./load.js";
import { Partition } from "./partition.js";

/**
 * A cache handle bound to one workspace: it holds the workspace's partition,
 * so a hit is one LRU lookup with no string building and no map lookup, and
 * nothing it does can reach another workspace's entries.
 *
 * @example
 * const journeys = cache.workspace(workspaceId)._unsafeUnwrap();
 * const result = await journeys.getOrLoad("event-triggered", () => loadJourneys(workspaceId));
 */
export class WorkspaceCache<V> {
  readonly workspaceId: WorkspaceId;
  /** Shared with ClockedWorkspaceCache (which expires due entries before each read). */
  protected readonly core: CacheCore<V>;
  // The hot-path fields and the slow path are TS-private, not #private: a
  // #private access costs get a byte more of bytecode, a #private call 14
  // more, and get must stay within V8's inlining budget (see get).
  private partition: Partition<V>;
  readonly #maxKeyLength: number;

  /** @internal use `TenantCache.workspace(id)`. */
  constructor(core: CacheCore<V>, workspaceId: WorkspaceId) {
    this.core = core;
    this.workspaceId = workspaceId;
    // No partition is created for a handle alone (only for something to hold,
    // see CacheCore.attach): until then it holds a detached placeholder, and
    // re-resolves on a miss like the handle of a cleared workspace.
    this.partition = core.lookup(workspaceId, core.unattached);
    this.#maxKeyLength = core.options.maxKeyLength;
  }

  /** The fresh value, `undefined` on a miss (or a cached "not found"), or InvalidKey. */
  get(key: string): Result<V | undefined, CacheError> {
    // Hot path, one LRU lookup: a hit proves the key valid (only validated
    // keys are ever stored; any other value, a non-string included, misses
    // the LRU's Map), the partition live (a detached partition reads from
    // an always-empty LRU) and the entry fresh (expired entries are taken
    // out of the LRU on time, see ExpirySchedule). Everything else is decided
    // on the miss path. V8 inlines this method into its caller only while it
    // and everything inlined into it (lru-cache's get takes most of that
    // budget) stay small.
    const p = this.partition;
    const entry = p.lru.get(key);
    if (entry !== undefined) {
      p.hits++;
      return entry;
    }
    return this.getSlow(key);
  }

  /** Stores a value (size-checked; TTL with jitter). Errors leave the cache unchanged. */
  set(key: string, value: V, options?: SetOptions): Result<void, CacheError> {
    const core = this.core;
    if (typeof key !== "string" || key.length > this.#maxKeyLength) return err(this.#badKey(key));
    const ttlMs = options?.ttlMs;
    if (ttlMs !== undefined) {
      const bad = ttlProblem(ttlMs, this.workspaceId);
      if (bad !== undefined) return err(bad);
    }
    const p = this.partition;
    if (p.detached) return this.setSlow(key, value, ttlMs);
    const size = core.measure(p.cap, this.workspaceId, key, value);
    if (typeof size !== "number") return err(size);
    // Checked again: sizeOf (user code) may have cleared the workspace.
    core.store(p.detached ? this.#live() : p, key, core.makeEntry(value, ttlMs ?? core.options.ttlMs), size);
    return OK_VOID;
  }

  /** Removes a key; a load of it already in flight will not write its value back. Ok(true) if it was cached. */
  delete(key: string): Result<boolean, CacheError> {
    if (typeof key !== "string" || key.length > this.#maxKeyLength) return err(this.#badKey(key));
    let p = this.partition;
    if (p.detached) p = this.partition = this.core.lookup(this.workspaceId, p);
    return ok(this.core.remove(p, key));
  }

  /**
   * Returns the cached value or loads it: concurrent misses of one key share
   * one loader call; a stale value (within `graceMs`) is returned while it is
   * refreshed in the background.
   */
  getOrLoad(key: string, loader: Loader<V>): Promise<Result<V | undefined, CacheError>> {
    if (typeof key !== "string" || key.length > this.#maxKeyLength) return Promise.resolve(err(this.#badKey(key)));
    return loadThrough(this.core, this.workspaceId, key, fetchFromLoader(loader, { workspaceId: this.workspaceId, key }));
  }

  /** Drops every entry of this workspace in O(1) and fences its in-flight loads. */
  clear(): Result<void, never> {
    this.core.clear(this.workspaceId);
    return OK_VOID;
  }

  /** Bytes and entries this workspace holds now. */
  get size(): { readonly bytes: number; readonly entries: number } {
    const p = this.core.lookup(this.workspaceId, this.partition);
    return { bytes: p.bytes, entries: p.entries };
  }

  /** A miss, a bad key or a detached partition (see get). */
  private getSlow(key: string): Result<V | undefined, CacheError> {
    const p = this.partition;
    if (typeof key !== "string" || key.length > this.#maxKeyLength) return err(this.#badKey(key));
    if (p.detached) {
      const live = this.core.partitions.get(this.workspaceId);
      if (live === undefined) {
        // No partition to count it on: still a miss, for stats() and the metrics sink.
        this.core.missWithoutPartition(this.workspaceId);
        return MISS;
      }
      this.partition = live;
      return this.core.read(live, key);
    }
    p.misses++;
    return MISS;
  }

  /** A set through a handle whose partition is detached (never attached, cleared or reclaimed). */
  private setSlow(key: string, value: V, ttlMs: number | undefined): Result<void, CacheError> {
    const p = this.core.setNew(this.workspaceId, key, value, ttlMs);
    if (!(p instanceof Partition)) return err(p);
    this.partition = p;
    return OK_VOID;
  }

  #live(): Partition<V> {
    let p = this.partition;
    if (p.detached) p = this.partition = this.core.attach(this.workspaceId);
    return p;
  }

  #badKey(key: unknown): CacheError {
    return this.core.checkKey(key, this.workspaceId) ?? invalidKey(key, "rejected", this.workspaceId);
  }
}

/**
 * The handle for an injected clock: each read first expires what is due at
 * the clock's time (no timer can follow a manual clock), so TTLs are exact.
 */
export class ClockedWorkspaceCache<V> extends WorkspaceCache<V> {
  override get(key: string): Result<V | undefined, CacheError> {
    this.core.expireDue();
    return super.get(key);
  }
}

export const OK_VOID: Result<void, never> = ok(undefined);
export { MISS };
