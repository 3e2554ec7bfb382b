import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";

/**
 * The cache's time source for TTL checks.
 *
 * `t` is the current time (ms) while a cached reading may be trusted, and
 * `+Infinity` when it may not. A hit path can then decide "fresh" with one
 * field read and no call: `entry.expiresAt > time.t` is true only for an entry
 * that is fresh at a trusted time; anything else (no trusted time, an expired
 * entry, an entry without TTL while `t` is Infinity) falls to a slow path
 * that calls `now()`.
 *
 * With the system clock, `now()` caches `Date.now()` in `t` for one
 * millisecond (as lru-cache's `ttlResolution` does). With an injected clock
 * `t` stays Infinity and `now()` reads the clock every time, so tests stay exact.
 *
 * (Why not a closure call on the hit path: V8 inlines a caller's callee only
 * while the callee plus everything already inlined into it fits a bytecode
 * budget. lru-cache's `get` alone uses most of it; a clock closure inlined
 * into the handle's `get` pushed the handle past it, so the handle was called,
 * not inlined, in the caller's optimised loop.)
 */
export interface CacheTime {
  /** Now (ms) while a cached reading is valid; +Infinity when `now()` must be called. */
  t: number;
  /** Reads the time (refreshing `t` when the clock may be cached). */
  readonly now: () => number;
}

/** A CacheTime for the given clock (the system clock when undefined). */
export function makeTime(clock: Clock | undefined): CacheTime {
  if (clock !== undefined && clock !== systemClock) return { t: Infinity, now: () => clock.now() };
  const time: CacheTime = { t: Infinity, now: () => (time.t !== Infinity ? time.t : refresh()) };
  const reset = (): void => {
    time.t = Infinity;
  };
  const refresh = (): number => {
    const t = Date.now();
    time.t = t;
    setTimeout(reset, 1).unref();
    return t;
  };
  return time;
}
