import fc from "fast-check";
import type { Result } from "neverthrow";
import { expect } from "vitest";
import type { Plan } from "../../../src/quota/index.js";

/**
 * The project standard, checked across the public APIs of the embedded
 * variants: bad input (malformed workspace ids, NaN costs, oversized payloads,
 * corrupted ciphertexts, bad env values) gets a typed Err with a clear
 * message, never an exception, never a partial write.
 *
 * Two kinds of hostile value are generated. Leaf values (ids, costs, keys,
 * names, sizes, env values) may be anything at all, including objects whose
 * toString throws and Proxies whose every property read throws: a library
 * only has to look at their type. Containers the library must read (request
 * objects, entries) get bad shapes but no throwing reads, except where the
 * library serialises caller data it was given (audit metadata), where
 * throwing getters and Proxies are part of the input space.
 */

// ---------------------------------------------------------------- helpers

/** Calls `call`, failing the property if it throws synchronously or its promise rejects. */
export async function noThrow<T>(what: string, call: () => T): Promise<Awaited<T>> {
  let pending: T;
  try {
    pending = call();
  } catch (thrown) {
    throw new Error(`${what} threw synchronously: ${show(thrown)}`);
  }
  try {
    return await pending;
  } catch (thrown) {
    throw new Error(`${what} rejected: ${show(thrown)}`);
  }
}

export function show(thrown: unknown): string {
  return thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : str(thrown);
}

/** fast-check's printing of a generated value, cut short (a value with its own toString may print as anything). */
export function str(value: unknown): string {
  try {
    const text: unknown = fc.stringify(value);
    return typeof text === "string" ? (text.length > 500 ? `${text.slice(0, 500)}…` : text) : "<unprintable>";
  } catch {
    return "<unprintable>";
  }
}

/** The error of an Err result: a plain object with a string `type` and a non-empty `message`. */
export function expectTypedErr(result: Result<unknown, unknown>, what: string, types?: readonly string[]): void {
  expect(result.isErr(), `${what} must be an Err`).toBe(true);
  if (!result.isErr()) return;
  const error = result.error as { type?: unknown; message?: unknown } | null;
  expect(typeof error === "object" && error !== null, `${what}: the error is an object`).toBe(true);
  expect(typeof error?.type, `${what}: error.type`).toBe("string");
  expect(typeof error?.message === "string" && error.message.length > 0, `${what}: error.message is non-empty`).toBe(true);
  if (types !== undefined) expect(types, `${what}: error.type`).toContain(error?.type);
}

/** Err exactly when the input is bad (a good input must not be refused either); any Err is typed. */
export function expectErrIff(result: Result<unknown, unknown>, bad: boolean, what: string): void {
  if (bad || result.isErr()) expectTypedErr(result, `${what} (input ${bad ? "bad" : "valid"})`);
  expect(result.isErr(), `${what}: Err exactly for bad input`).toBe(bad);
}

/** Printed by fast-check in counterexamples (reading these objects' properties would throw). */
export const SHOWN_AS = fc.toStringMethod;

/** An object whose every conversion (String, template, JSON, arithmetic) throws. */
export function throwingToString(): object {
  const boom = (): never => {
    throw new Error("toString");
  };
  return { toString: boom, valueOf: boom, toJSON: boom, [Symbol.toPrimitive]: boom, [SHOWN_AS]: () => "throwingToString()" };
}

/** Every Proxy `throwingProxy` made (a WeakSet lookup touches no trap). */
const proxies = new WeakSet<object>();

/** A Proxy whose every property read throws (its target has one enumerable member, `a`). */
export function throwingProxy(): object {
  const target = { a: 1, [SHOWN_AS]: () => "throwingProxy()" };
  const proxy = new Proxy(target, {
    get(t, property) {
      if (property === SHOWN_AS) return t[SHOWN_AS];
      throw new Error(`get ${String(property)}`);
    },
  });
  proxies.add(proxy);
  return proxy;
}
export const isProxy = (v: unknown): boolean => typeof v === "object" && v !== null && proxies.has(v);

/** An object with an enumerable getter that throws. */
export function throwingGetter(): object {
  const o = Object.defineProperty({}, "a", { enumerable: true, get: () => { throw new Error("getter"); } });
  return Object.defineProperty(o, SHOWN_AS, { value: () => "throwingGetter()" });
}

export function cyclic(): object {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

/** Fresh per draw, so no run sees another run's object. */
export const fresh = <T>(make: () => T): fc.Arbitrary<T> => fc.constant(null).map(make);

/** Any value at all, for leaf positions. */
export const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -0, 1, -1, 2 ** 53, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.string({ maxLength: 12 }),
  fc.string({ maxLength: 6 }).map((s) => Symbol(s)),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.object({ maxDepth: 1, maxKeys: 3 }),
  fc.func(fc.anything({ maxDepth: 0 })),
  fresh(() => Object.create(null) as object),
  fresh(throwingToString),
  fresh(throwingProxy),
  fresh(cyclic),
  fc.constantFrom(new Date(NaN), new Date(0), new Map(), new Uint16Array(2)),
);
/** Hostile values that cannot be a string (a string may be a valid value where one is expected). */
export const nonString = hostile.filter((v) => typeof v !== "string");
export const nonStringDefined = nonString.filter((v) => v !== undefined);
/** Hostile values minus Proxies: for containers the library must read. */
export const hostileNoProxy = hostile.filter((v) => !isProxy(v));

export const hugeString = fc.integer({ min: 100_000, max: 1_000_000 }).map((n) => "a".repeat(n));

// ---------------------------------------------------------------- workspace ids

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isValidId = (v: unknown): boolean => typeof v === "string" && UUID.test(v);

export const idLike: fc.Arbitrary<unknown> = fc.oneof(
  fc.uuid(),
  fc.uuid().map((s) => s.toUpperCase()),
  fc.mixedCase(fc.uuid()),
  fc.uuid().map((s) => ` ${s}`),
  fc.uuid().map((s) => `${s}\n`),
  fc.uuid().map((s) => `${s}\u0000`),
  fc.uuid().map((s) => s.replaceAll("-", "")),
  fc.uuid().map((s) => `{${s}}`),
  fc.uuid().map((s) => `urn:uuid:${s}`),
  fc.uuid().map((s) => s.slice(1)),
  fc.uuid().map((s) => `${s.slice(0, -1)}g`),
  fc.uuid().map((s) => s.replace(/[0-9]/, "٣")),
  fc.string(),
  fc.string({ unit: "binary", maxLength: 40 }),
  hugeString,
  hostile,
);
export const badId = idLike.filter((v) => !isValidId(v));

// ---------------------------------------------------------------- shared fixtures

/** A workspace id every test uses, and a second one where two are needed. */
export const W = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";
export const W2 = "0b7d5f3e-6d0a-4c1e-9a53-2f1f0a4b8c11";

/** The plan every QuotaGuard here runs with. */
export const PLAN = {
  calls: { kind: "period", period: "day", limit: 1_000 },
  burst: { kind: "rate", limit: 100, periodMs: 60_000, burst: 10 },
  window: { kind: "rate", limit: 50, periodMs: 1_000, algorithm: "slidingWindow" },
  items: { kind: "count", limit: 20 },
  slots: { kind: "concurrency", limit: 3 },
} as const satisfies Plan;

/** One root key, for every TenantCipher here. */
export const ROOT_KEYS = `k1:${Buffer.alloc(32, 7).toString("base64")}`;

/** A prototype-less object (String() of it throws). */
export const noProto = () => Object.create(null) as never;

/** A field value and whether the docs call it bad. */
export type Tagged = { readonly v: unknown; readonly bad: boolean };
