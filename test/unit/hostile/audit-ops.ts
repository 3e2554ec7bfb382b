import fc from "fast-check";
import type { Tagged } from "./hostile-values.js";

/**
 * Audit event fields both the memory-store properties
 * (audit.property.test.ts) and the Postgres ones
 * (test/integration/hostile/audit.property.test.ts) draw.
 */

/**
 * `tagged(good, bad, badWeight)`: a field value and whether the docs call it
 * bad, drawn from `good` `goodWeight` times to `badWeight` times from `bad`.
 */
export const tagger =
  (goodWeight: number) =>
  (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>, badWeight = 1): fc.Arbitrary<Tagged> =>
    fc.oneof({ weight: goodWeight, arbitrary: good.map((v) => ({ v, bad: false })) }, { weight: badWeight, arbitrary: bad.map((v) => ({ v, bad: true })) });

/** An action name as the docs define it: dotted lower-case segments. */
export const actionName = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){1,3}$/);

/** The last millisecond of year 9999, the latest `occurredAt` the docs accept. */
export const LAST_DATE = 253_402_300_799_999;
/** A valid Date from the epoch to LAST_DATE. */
export const eventDate = fc.date({ min: new Date(0), max: new Date(LAST_DATE), noInvalidDate: true });
