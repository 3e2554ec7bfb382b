import fc from "fast-check";
import { estimateSize } from "../../../src/cache/index.js";
import { hostile, hugeString, nonString } from "./hostile-values.js";

/**
 * Cache limits, sizes and hostile keys, sizeOf functions and loaders, shared
 * by the TenantCache properties (cache.property.test.ts) and the
 * RedisTenantCache ones (test/integration/hostile/cache.property.test.ts).
 * Where the suites draw differently, the arbitraries take each suite's part as
 * a parameter and keep one structure (arms, weights, order), so each suite
 * draws exactly what it drew when it declared them itself.
 */

/** The caches' maxKeyLength and maxEntryBytes. */
export const MAX_KEY = 64;
export const MAX_ENTRY = 4_096;

/** What `sizeOf` makes of a value, as the docs define it: a size, or "bad" (InvalidSize, EntryTooLarge). */
export function entryFits(value: unknown, key: string, sizeOf: (v: unknown, k: string) => unknown): boolean {
  let size: unknown;
  if (value === undefined) size = 48 + key.length * 2;
  else {
    try {
      size = sizeOf(value, key);
    } catch {
      return false;
    }
  }
  if (typeof size !== "number" || !Number.isFinite(size) || size < 0) return false;
  return Math.max(1, Math.ceil(size)) <= MAX_ENTRY;
}

/**
 * How the cache's sizeOf behaves for one call: a valid size (up to `maxSize`),
 * an invalid answer (a double when `doubles`, a hostile value), or a throw.
 */
export function sizeOfBehaviours(o: { maxSize: number; doubles: boolean; hostileWeight: number }): fc.Arbitrary<(value: unknown, key: string) => unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(estimateSize) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: o.maxSize }).map((n) => () => n) },
    ...(o.doubles ? [{ weight: 1, arbitrary: fc.double().map((d) => () => d) }] : []),
    { weight: o.hostileWeight, arbitrary: hostile.map((v) => () => v) },
    { weight: o.hostileWeight, arbitrary: hostile.map((v) => () => { throw v; }) },
  );
}

/** Keys: `names` (4 in 12 before `more`), strings up to MAX_KEY, `more`, then too long, huge and no strings. */
export function cacheKeys(names: readonly string[], more: readonly fc.WeightedArbitrary<string>[] = []): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.string({ maxLength: MAX_KEY }) },
    ...more,
    { weight: 1, arbitrary: fc.string({ minLength: MAX_KEY + 1, maxLength: 200 }) },
    { weight: 1, arbitrary: hugeString },
    { weight: 2, arbitrary: nonString },
  );
}

/** A loader's behaviour: it returns a value (plainly or in a promise), throws, rejects, or is no function at all. */
export type LoaderSpec = { fails: boolean; value: unknown; loader: unknown };

/** Loaders returning `value`s; with `throwingThen`, also one returning a thenable whose `then` throws. */
export function loaderSpecs(value: fc.Arbitrary<unknown>, o: { throwingThen: boolean }): fc.Arbitrary<LoaderSpec> {
  return fc.oneof(
    value.map((value) => ({ fails: false, value, loader: () => value })),
    value.map((value) => ({ fails: false, value, loader: async () => value })),
    hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => { throw thrown; } })),
    hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => Promise.reject(thrown) })),
    ...(o.throwingThen ? [fc.constant({ fails: true, value: undefined, loader: () => ({ then: () => { throw new Error("then"); } }) })] : []),
    hostile.filter((v) => typeof v !== "function").map((loader) => ({ fails: true, value: undefined, loader })),
  );
}
