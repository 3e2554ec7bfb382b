import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";

/**
 * A time source for TTL checks. With the system clock it caches `Date.now()`
 * for one millisecond (as lru-cache's `ttlResolution` does), so a hit costs a
 * field read rather than a clock call; an injected clock is read every time so
 * tests stay exact.
 */
export function makeNow(clock: Clock | undefined): () => number {
  if (clock !== undefined && clock !== systemClock) return () => clock.now();
  let cached = 0;
  const reset = (): void => {
    cached = 0;
  };
  const refresh = (): number => {
    cached = Date.now();
    setTimeout(reset, 1).unref();
    return cached;
  };
  // Kept tiny so V8 inlines it, and the LRU lookup next to it, into hot loops.
  return () => (cached !== 0 ? cached : refresh());
}
