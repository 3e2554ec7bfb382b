import { err, ok, type Result } from "neverthrow";
import { describeThrown } from "../core/errors.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { CacheCore } from "./core.js";
import { loaderFailed, type CacheError } from "./errors.js";
import type { Flight, Partition } from "./partition.js";

/** What a loader is told about the call it serves. */
export interface LoadContext {
  readonly workspaceId: WorkspaceId;
  readonly key: string;
}

/**
 * Loads the value for a missing key. Return `undefined` for "not found"
 * (cached for `negativeTtlMs`). A throw or rejection becomes a LoaderFailed
 * error for every waiting caller; nothing is cached.
 */
export type Loader<V> = (key: string, context: LoadContext) => Promise<V | undefined> | V | undefined;

/** A fetched value and, optionally, how long it may stay in this process. */
export interface Fetched<V> {
  readonly value: V | undefined;
  readonly ttlMs?: number;
}

/** The generic fill step (a user loader, or the Redis tier's read-then-load). */
export type Fetch<V> = (flight: Flight<V>) => Promise<Result<Fetched<V>, CacheError>>;

/** Wraps a user loader so a throw, a rejection or a non-promise all become a Result. */
export function fetchFromLoader<V>(loader: Loader<V>, context: LoadContext): Fetch<V> {
  return async () => {
    try {
      return ok({ value: await loader(context.key, context) });
    } catch (thrown) {
      return err(
        loaderFailed(`loader for key ${JSON.stringify(context.key)} failed: ${describeThrown(thrown)}`, context.workspaceId, thrown),
      );
    }
  };
}

/**
 * getOrLoad: a fresh hit returns at once; a stale hit (within the grace
 * period) returns the old value and refreshes in the background; a miss joins
 * the key's single in-flight load or starts one. Whatever happens to the key
 * while the load runs (set, delete, workspace clear) fences the load so its
 * value is never written back.
 */
export function loadThrough<V>(
  core: CacheCore<V>,
  workspaceId: WorkspaceId,
  key: string,
  fetch: Fetch<V>,
): Promise<Result<V | undefined, CacheError>> {
  core.expireDue();
  const p = core.attach(workspaceId);
  // Expired entries leave the LRU on a timer (see ExpirySchedule), which a
  // blocked event loop delays; expired ones within their grace period wait in
  // p.stale. So unlike the handle's get (whose hit does no time check, see
  // WorkspaceCache.get), getOrLoad checks expiry against the clock itself,
  // not a cached reading (which a blocked loop leaves as old as the block).
  let now = NaN;
  const entry = p.lru.get(key);
  if (entry !== undefined) {
    if (entry.expiresAt === Infinity || entry.expiresAt > (now = core.exactNow())) {
      p.hits++;
      return Promise.resolve(entry);
    }
    // Due but not yet taken out: do now what the timer would (stale within grace, else gone).
    core.expireKey(p, key, now);
  }
  const stale = p.stale?.get(key);
  if (stale !== undefined) {
    // The timer drops it at the end of its grace period; checked here too, for the same reason.
    const { entry } = stale;
    if (entry.expiresAt + core.options.graceMs > (Number.isNaN(now) ? (now = core.exactNow()) : now)) {
      p.staleHits++;
      if (!p.flights.has(key)) {
        void startFlight(core, p, key, fetch).promise.then((result) => {
          if (result.isErr()) core.logger.warn({ workspaceId, key, err: result.error }, "cache background refresh failed");
        });
      }
      return Promise.resolve(entry);
    }
  }
  p.misses++;
  const flight = p.flights.get(key) ?? startFlight(core, p, key, fetch);
  return flight.promise;
}

function startFlight<V>(core: CacheCore<V>, p: Partition<V>, key: string, fetch: Fetch<V>): Flight<V> {
  const flight: Flight<V> = { fenced: false, promise: Promise.resolve(ok(undefined)) };
  p.flights.set(key, flight);
  p.loads++;
  flight.promise = settle(core, p, key, flight, fetch);
  return flight;
}

async function settle<V>(
  core: CacheCore<V>,
  p: Partition<V>,
  key: string,
  flight: Flight<V>,
  fetch: Fetch<V>,
): Promise<Result<V | undefined, CacheError>> {
  let fetched: Result<Fetched<V>, CacheError>;
  try {
    fetched = await fetch(flight);
  } catch (thrown) {
    // Fetch functions return Results; this only guards against a bug in one.
    fetched = err(loaderFailed(`fill of ${JSON.stringify(key)} threw: ${describeThrown(thrown)}`, p.workspaceId, thrown));
  }
  if (p.flights.get(key) === flight) p.flights.delete(key);
  // Checked later (see CacheCore.maybeEmpty): if nothing is stored below,
  // the partition created for this load may be idle now.
  core.maybeEmpty(p);
  if (fetched.isErr()) {
    // The partition may have been cleared meanwhile: the failure is still counted.
    core.loadFailed(p);
    return err(fetched.error);
  }
  const { value } = fetched.value;
  if (flight.fenced || p.detached) return ok(value);
  const ttlMs = fetched.value.ttlMs ?? (value === undefined ? core.options.negativeTtlMs : core.options.ttlMs);
  if (value === undefined && ttlMs <= 0) return ok(undefined);
  const size = core.measure(p.cap, p.workspaceId, key, value);
  if (typeof size !== "number") {
    p.loadFailures++;
    return err(size);
  }
  // Its TTL counts from the clock, not a reading cached before a blocked loop (see makeEntryNow).
  core.store(p, key, core.makeEntryNow(value, ttlMs), size);
  return ok(value);
}
