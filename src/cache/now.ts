import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";

/**
 * The cache's time source for new entries' expiry and the slow paths (a hit
 * reads no time at all: entries leave the LRU when they expire, see
 * ExpirySchedule).
 *
 * `t` is the current time (ms) while a cached reading may be trusted, and
 * `+Infinity` when it may not. With the system clock, `now()` caches
 * `Date.now()` in `t` for one millisecond (as lru-cache's `ttlResolution`
 * does). With an injected clock `t` stays Infinity and `now()` reads the clock
 * every time, so tests stay exact.
 */
export interface CacheTime {
  /** Now (ms) while a cached reading is valid; +Infinity when `now()` must be called. */
  t: number;
  /**
   * Reads the time (refreshing `t` when the clock may be cached). The cached
   * reading is dropped by a 1 ms timer, so while the event loop is blocked it
   * stays as old as the block: good enough for new entries' expiry (they can
   * only expire early), not for deciding whether an entry is still fresh.
   */
  readonly now: () => number;
  /** Reads the clock itself, never a cached reading (freshness checks off the hit path). */
  readonly exact: () => number;
}

/** A CacheTime for the given clock (the system clock when undefined). */
export function makeTime(clock: Clock | undefined): CacheTime {
  if (clock !== undefined && clock !== systemClock) {
    const read = (): number => clock.now();
    return { t: Infinity, now: read, exact: read };
  }
  const time: CacheTime = { t: Infinity, now: () => (time.t !== Infinity ? time.t : refresh()), exact: () => Date.now() };
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
