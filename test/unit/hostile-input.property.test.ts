import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { AuditLogger, MemoryAuditStore } from "../../src/audit/index.js";
import { estimateSize, TenantCache } from "../../src/cache/index.js";
import { CONFIG_VARIABLES, LOG_LEVELS, loadConfig, ManualClock, parseWorkspaceId, seededRandom } from "../../src/core/index.js";
import { memoryKeyStore, TenantCipher, toText } from "../../src/crypto/index.js";
import { TenantMetrics } from "../../src/metrics/index.js";
import { MemoryQuotaStore, policiesFromEnv, QuotaGuard, type Plan } from "../../src/quota/index.js";

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
async function noThrow<T>(what: string, call: () => T): Promise<Awaited<T>> {
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

function show(thrown: unknown): string {
  return thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : str(thrown);
}

/** fast-check's printing of a generated value, cut short (a value with its own toString may print as anything). */
function str(value: unknown): string {
  try {
    const text: unknown = fc.stringify(value);
    return typeof text === "string" ? (text.length > 500 ? `${text.slice(0, 500)}…` : text) : "<unprintable>";
  } catch {
    return "<unprintable>";
  }
}

/** The error of an Err result: a plain object with a string `type` and a non-empty `message`. */
function expectTypedErr(result: Result<unknown, unknown>, what: string, types?: readonly string[]): void {
  expect(result.isErr(), `${what} must be an Err`).toBe(true);
  if (!result.isErr()) return;
  const error = result.error as { type?: unknown; message?: unknown } | null;
  expect(typeof error === "object" && error !== null, `${what}: the error is an object`).toBe(true);
  expect(typeof error?.type, `${what}: error.type`).toBe("string");
  expect(typeof error?.message === "string" && error.message.length > 0, `${what}: error.message is non-empty`).toBe(true);
  if (types !== undefined) expect(types, `${what}: error.type`).toContain(error?.type);
}

/** Err exactly when the input is bad (a good input must not be refused either); any Err is typed. */
function expectErrIff(result: Result<unknown, unknown>, bad: boolean, what: string): void {
  if (bad || result.isErr()) expectTypedErr(result, `${what} (input ${bad ? "bad" : "valid"})`);
  expect(result.isErr(), `${what}: Err exactly for bad input`).toBe(bad);
}

/** Printed by fast-check in counterexamples (reading these objects' properties would throw). */
const SHOWN_AS = fc.toStringMethod;

/** An object whose every conversion (String, template, JSON, arithmetic) throws. */
function throwingToString(): object {
  const boom = (): never => {
    throw new Error("toString");
  };
  return { toString: boom, valueOf: boom, toJSON: boom, [Symbol.toPrimitive]: boom, [SHOWN_AS]: () => "throwingToString()" };
}

/** Every Proxy `throwingProxy` made (a WeakSet lookup touches no trap). */
const proxies = new WeakSet<object>();

/** A Proxy whose every property read throws (its target has one enumerable member, `a`). */
function throwingProxy(): object {
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
const isProxy = (v: unknown): boolean => typeof v === "object" && v !== null && proxies.has(v);

/** An object with an enumerable getter that throws. */
function throwingGetter(): object {
  const o = Object.defineProperty({}, "a", { enumerable: true, get: () => { throw new Error("getter"); } });
  return Object.defineProperty(o, SHOWN_AS, { value: () => "throwingGetter()" });
}

function cyclic(): object {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

function nested(depth: number): object {
  let o: object = { leaf: 1 };
  for (let i = 0; i < depth; i++) o = { a: o };
  return o;
}

/** Fresh per draw, so no run sees another run's object. */
const fresh = <T>(make: () => T): fc.Arbitrary<T> => fc.constant(null).map(make);

/** Any value at all, for leaf positions. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
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
const nonString = hostile.filter((v) => typeof v !== "string");
const nonStringDefined = nonString.filter((v) => v !== undefined);
/** Hostile values minus Proxies: for containers the library must read. */
const hostileNoProxy = hostile.filter((v) => !isProxy(v));

const hugeString = fc.integer({ min: 100_000, max: 1_000_000 }).map((n) => "a".repeat(n));

// ---------------------------------------------------------------- workspace ids

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isValidId = (v: unknown): boolean => typeof v === "string" && UUID.test(v);

const idLike: fc.Arbitrary<unknown> = fc.oneof(
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
const badId = idLike.filter((v) => !isValidId(v));

describe("workspace ids", () => {
  it("parseWorkspaceId: Ok exactly for a UUID string (any case, normalised to lower case), else a typed Err", () => {
    fc.assert(
      fc.property(idLike, (input) => {
        let result: ReturnType<typeof parseWorkspaceId>;
        try {
          result = parseWorkspaceId(input);
        } catch (thrown) {
          throw new Error(`parseWorkspaceId threw: ${show(thrown)}`);
        }
        expectErrIff(result, !isValidId(input), "parseWorkspaceId");
        if (result.isOk()) expect(result.value).toBe((input as string).toLowerCase());
        else expect(result.error.type).toBe("InvalidWorkspaceId");
      }),
      { numRuns: 400 },
    );
  });

  it("every module answers a malformed id with InvalidWorkspaceId and changes nothing", async () => {
    const clock = new ManualClock();
    const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock });
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock });
    const audit = new AuditLogger({ clock, random: seededRandom(1), batch: { lingerMs: 0 } });
    const metrics = new TenantMetrics({ clock });
    metrics.counter("sent");
    const state = () => JSON.stringify([(guard.store as MemoryQuotaStore).size, cache.stats(), metrics.stats(), metrics.snapshot()]);

    await fc.assert(
      fc.asyncProperty(badId, async (workspaceId) => {
        const before = state();
        const id = workspaceId as string;
        const calls: [string, () => unknown][] = [
          ["quota.consume", () => guard.consume({ workspaceId: id, limit: "calls" })],
          ["quota.check", () => guard.check({ workspaceId: id, limit: "calls", cost: 2 })],
          ["quota.reserve", () => guard.reserve({ workspaceId: id, limit: "items" })],
          ["quota.reconcile", () => guard.reconcile({ workspaceId: id, limit: "items", actual: 1 })],
          ["quota.commit", () => guard.commit({ reservation: { id: "r", workspaceId: id as never, items: [{ limit: "items", cost: 1 }] } })],
          ["quota.workspace", () => guard.workspace(id)],
          ["cache.workspace", () => cache.workspace(id)],
          ["cache.get", () => cache.get({ workspaceId: id, key: "k" })],
          ["cache.set", () => cache.set({ workspaceId: id, key: "k", value: 1 })],
          ["cache.delete", () => cache.delete({ workspaceId: id, key: "k" })],
          ["cache.getOrLoad", () => cache.getOrLoad({ workspaceId: id, key: "k" }, () => 1)],
          ["cache.clear", () => cache.clear({ workspaceId: id })],
          ["cipher.encrypt", () => cipher.encrypt({ workspaceId: id, purpose: "secret:x", plaintext: "v" })],
          ["cipher.decrypt", () => cipher.decrypt({ workspaceId: id, purpose: "secret:x", ciphertext: new Uint8Array(64) })],
          ["cipher.encryptText", () => cipher.encryptText({ workspaceId: id, purpose: "secret:x", plaintext: "v" })],
          ["cipher.blindIndex", () => cipher.blindIndex({ workspaceId: id, purpose: "email", value: "v" })],
          ["cipher.rotate", () => cipher.rotate({ workspaceId: id })],
          ["cipher.destroy", () => cipher.destroy({ workspaceId: id, by: "test" })],
          ["audit.append", () => audit.append({ workspaceId: id, actor: { type: "member", id: "m" }, action: "journey.updated" })],
          ["audit.verify", () => audit.verify({ workspaceId: id })],
          ["audit.query", () => audit.query({ workspaceId: id })],
          ["metrics.add", () => metrics.add({ workspaceId: id, metric: "sent", value: 1 })],
          ["metrics.workspace", () => metrics.workspace(id)],
          ["metrics.usage", () => metrics.usage({ workspaceId: id })],
        ];
        for (const [what, call] of calls) {
          const result = (await noThrow(what, call)) as Result<unknown, unknown>;
          expectTypedErr(result, what, ["InvalidWorkspaceId"]);
        }
        expect(state(), "no module changed state").toBe(before);
      }),
      { numRuns: 60 },
    );
    await guard.close();
    await audit.close();
  });
});

// ---------------------------------------------------------------- quota

const PLAN = {
  calls: { kind: "period", period: "day", limit: 1_000 },
  burst: { kind: "rate", limit: 100, periodMs: 60_000, burst: 10 },
  window: { kind: "rate", limit: 50, periodMs: 1_000, algorithm: "slidingWindow" },
  items: { kind: "count", limit: 20 },
  slots: { kind: "concurrency", limit: 3 },
} as const satisfies Plan;
type LimitName = keyof typeof PLAN;
const LIMIT_NAMES = Object.keys(PLAN) as LimitName[];
/** The largest cost one call may ask of each limit (the GCRA burst for `burst`). */
const MAX_COST: Record<LimitName, number> = { calls: 1_000, burst: 10, window: 50, items: 20, slots: 3 };
const W = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";
const W2 = "0b7d5f3e-6d0a-4c1e-9a53-2f1f0a4b8c11";

const isLimitName = (x: unknown): x is LimitName => typeof x === "string" && Object.hasOwn(PLAN, x);
const isCost = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 1;

type DecideMode = "consume" | "check" | "reserve" | "acquire";

/** Whether a list of `{ limit, cost }` entries is bad input for `mode` (docs/quota.md: costs, names, kinds). */
function badEntries(mode: DecideMode | "commit" | "release", entries: readonly unknown[]): boolean {
  const seen = new Set<string>();
  for (const entry of entries) {
    const { limit, cost } = (entry ?? {}) as { limit?: unknown; cost?: unknown };
    if (!isLimitName(limit) || seen.has(limit)) return true;
    seen.add(limit);
    // Like every optional field here, a null cost is an absent one (the library defaults with `??`).
    const c = cost ?? 1;
    if (!isCost(c) || c > MAX_COST[limit]) return true;
    if (mode === "consume" && PLAN[limit].kind === "concurrency") return true;
  }
  return false;
}

function badDecide(mode: DecideMode, request: { limit?: unknown; cost?: unknown; limits?: unknown }): boolean {
  if (request.limits === undefined) return badEntries(mode, [{ limit: request.limit, cost: request.cost }]);
  const list = request.limits;
  if (request.limit !== undefined || !Array.isArray(list) || list.length === 0 || list.length > 32) return true;
  return badEntries(mode, list);
}

const limitName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LIMIT_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "calls ", "CALLS", "calls\u0000") },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 2, arbitrary: hostile },
);
const cost = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 1_200 }) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 1e-300, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom("1", "2", " 1") },
  { weight: 1, arbitrary: fc.bigInt({ min: -2n, max: 3n }) },
  { weight: 2, arbitrary: hostile },
);
/** One `{ limit, cost }` entry, or garbage (no Proxies: the guard must read entries). */
const entry = fc.oneof({ weight: 4, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: ["limit"] }) }, { weight: 1, arbitrary: hostileNoProxy });
const decideRequest = fc.oneof(
  { weight: 3, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: [] }) },
  {
    weight: 2,
    arbitrary: fc.record(
      { limits: fc.oneof({ weight: 4, arbitrary: fc.array(entry, { maxLength: 5 }) }, { weight: 1, arbitrary: hostileNoProxy }), limit: limitName },
      { requiredKeys: ["limits"] },
    ),
  },
);

type QuotaOp =
  | { op: "decide"; mode: DecideMode; handle: boolean; request: { limit?: unknown; cost?: unknown; limits?: unknown } }
  | { op: "settle"; mode: "commit" | "release"; change: { field: "id" | "workspaceId" | "items" | "whole"; value: unknown } | undefined }
  | { op: "reconcile"; limit: unknown; actual: unknown };

const quotaOp: fc.Arbitrary<QuotaOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("decide" as const), mode: fc.constantFrom<DecideMode>("consume", "check", "reserve", "acquire"), handle: fc.boolean(), request: decideRequest }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      mode: fc.constantFrom("commit" as const, "release" as const),
      change: fc.option(
        fc.oneof(
          fc.record({ field: fc.constantFrom("id" as const, "workspaceId" as const), value: fc.oneof(hostile, idLike) }),
          fc.record({ field: fc.constant("items" as const), value: fc.oneof(fc.array(entry, { maxLength: 3 }), hostileNoProxy) }),
          fc.record({ field: fc.constant("whole" as const), value: hostileNoProxy }),
        ),
        { nil: undefined },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("reconcile" as const),
      limit: limitName,
      actual: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(-1, 0.5, NaN, Infinity, 2 ** 53, "3"), hostile),
    }),
  },
);

/** Usage of every limit of `W` (by a check, which writes nothing) and the number of keys the store holds. */
async function quotaState(guard: QuotaGuard): Promise<string> {
  const d = await guard.check({ workspaceId: W, limits: LIMIT_NAMES.map((limit) => ({ limit })) });
  const limits = d._unsafeUnwrap().limits.map((l) => `${l.limit}=${l.remaining}`);
  return JSON.stringify({ keys: (guard.store as MemoryQuotaStore).size, limits });
}

describe("QuotaGuard (memory store)", () => {
  for (const leased of [false, true]) {
    it(`hostile costs, names and requests${leased ? " (leased mode)" : ""}: Err exactly for bad input, and an Err consumes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(quotaOp, { minLength: 1, maxLength: 8 }), async (ops) => {
          const clock = new ManualClock();
          // Leases live a minute of the manual clock, which never moves: no background expiry between calls.
          const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" }, ...(leased ? { leased: { leaseMs: 60_000 } } : {}) });
          try {
            await guard.consume({ workspaceId: W, limit: "calls", cost: 3 });
            const reserved = (await guard.reserve({ workspaceId: W, limits: [{ limit: "items", cost: 2 }, { limit: "slots" }] }))._unsafeUnwrap().reservation!;
            const handle = guard.workspace(W)._unsafeUnwrap();
            for (const op of ops) {
              const before = await quotaState(guard);
              let result: Result<unknown, unknown>;
              let bad: boolean;
              let what: string;
              if (op.op === "decide") {
                what = `${op.handle ? "handle." : ""}${op.mode}(${str(op.request)})`;
                bad = badDecide(op.mode, op.request);
                const request = op.request as never;
                if (op.handle && op.mode !== "acquire") result = await noThrow(what, () => handle[op.mode as "consume"](request));
                else result = await noThrow(what, () => guard[op.mode]({ ...(request as object), workspaceId: W } as never));
              } else if (op.op === "settle") {
                let reservation: unknown = reserved;
                if (op.change?.field === "whole") reservation = op.change.value;
                else if (op.change !== undefined) reservation = { ...reserved, [op.change.field]: op.change.value };
                what = `${op.mode}(${str(reservation)})`;
                const r = reservation as { id?: unknown; workspaceId?: unknown; items?: unknown } | null;
                bad =
                  typeof r !== "object" || r === null || typeof r.id !== "string" || !isValidId(r.workspaceId) ||
                  !Array.isArray(r.items) || r.items.length === 0 || r.items.length > 32 || badEntries(op.mode, r.items);
                result = await noThrow(what, () => guard[op.mode]({ reservation: reservation as never }));
              } else {
                what = `reconcile(${str(op)})`;
                const { actual, limit } = op;
                bad = typeof actual !== "number" || !Number.isSafeInteger(actual) || actual < 0 || !isLimitName(limit) || (PLAN[limit].kind !== "count" && PLAN[limit].kind !== "period");
                result = await noThrow(what, () => guard.reconcile({ workspaceId: W, limit: limit as never, actual: actual as never }));
              }
              expectErrIff(result, bad, what);
              if (result.isErr()) expect(await quotaState(guard), `${what} must consume nothing`).toBe(before);
            }
          } finally {
            await guard.close();
          }
        }),
        { numRuns: 120 },
      );
    });
  }
});

// ---------------------------------------------------------------- cache

const MAX_KEY = 64;
const MAX_ENTRY = 4_096;

/** How the cache's sizeOf behaves for one call: a valid size, an invalid answer, or a throw. */
const sizeOfBehaviour: fc.Arbitrary<(value: unknown, key: string) => unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(estimateSize) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 6_000 }).map((n) => () => n) },
  { weight: 1, arbitrary: fc.double().map((d) => () => d) },
  { weight: 2, arbitrary: hostile.map((v) => () => v) },
  { weight: 2, arbitrary: hostile.map((v) => () => { throw v; }) },
);
const cacheKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "", "__proto__", "constructor") },
  { weight: 2, arbitrary: fc.string({ maxLength: MAX_KEY }) },
  { weight: 1, arbitrary: fc.string({ minLength: MAX_KEY + 1, maxLength: 200 }) },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: nonString },
);
const cacheValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), hostile);
const isKey = (k: unknown): k is string => typeof k === "string" && k.length <= MAX_KEY;

/** What `sizeOf` makes of a value, as the docs define it: a size, or "bad" (InvalidSize, EntryTooLarge). */
function entryFits(value: unknown, key: string, sizeOf: (v: unknown, k: string) => unknown): boolean {
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

/** A loader's behaviour: it returns a value (plainly or in a promise), throws, rejects, or is no function at all. */
type LoaderSpec = { fails: boolean; value: unknown; loader: unknown };
const loaderSpec: fc.Arbitrary<LoaderSpec> = fc.oneof(
  cacheValue.map((value) => ({ fails: false, value, loader: () => value })),
  cacheValue.map((value) => ({ fails: false, value, loader: async () => value })),
  hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => { throw thrown; } })),
  hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => Promise.reject(thrown) })),
  fc.constant({ fails: true, value: undefined, loader: () => ({ then: () => { throw new Error("then"); } }) }),
  hostile.filter((v) => typeof v !== "function").map((loader) => ({ fails: true, value: undefined, loader })),
);

type CacheOp =
  | { op: "set"; handle: boolean; key: unknown; value: unknown; sizeOf: (v: unknown, k: string) => unknown }
  | { op: "get" | "delete"; handle: boolean; key: unknown }
  | { op: "getOrLoad"; handle: boolean; key: unknown; loader: LoaderSpec; sizeOf: (v: unknown, k: string) => unknown }
  | { op: "clear" };
const cacheOp: fc.Arbitrary<CacheOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("set" as const), handle: fc.boolean(), key: cacheKey, value: cacheValue, sizeOf: sizeOfBehaviour }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom("get" as const, "delete" as const), handle: fc.boolean(), key: cacheKey }) },
  {
    weight: 4,
    // A valid key is a fresh one (see below), so the loader always runs.
    arbitrary: fc.record({ op: fc.constant("getOrLoad" as const), handle: fc.boolean(), key: fc.oneof(fc.constant("fresh"), cacheKey.filter((k) => !isKey(k))), loader: loaderSpec, sizeOf: sizeOfBehaviour }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
);

describe("TenantCache", () => {
  it("hostile keys, sizeOf results and loaders: Err exactly for bad input, and an Err writes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cacheOp, { minLength: 1, maxLength: 10 }), async (ops) => {
        let sizeOf: (v: unknown, k: string) => unknown = estimateSize;
        const cache = new TenantCache<unknown>({
          maxBytes: 1 << 16,
          maxKeyLength: MAX_KEY,
          maxEntryBytes: MAX_ENTRY,
          clock: new ManualClock(),
          sizeOf: (v, k) => sizeOf(v, k) as number,
        });
        cache.set({ workspaceId: W, key: "seed", value: "seeded" });
        const handle = cache.workspace(W)._unsafeUnwrap();
        const stats = () => JSON.stringify(cache.stats());
        // Bytes and entries only: a failed load still counts a miss and a load failure.
        const held = () => {
          const { bytes, entries, workspaces } = cache.stats();
          return JSON.stringify([bytes, entries, workspaces.filter((w) => w.entries > 0 || w.bytes > 0).map((w) => [w.workspaceId, w.bytes, w.entries]), handle.size]);
        };
        let fresh = 0;
        for (const op of ops) {
          /** True when a getOrLoad got as far as running its loader (counters may then move). */
          let loaded = false;
          const beforeStats = stats();
          const beforeHeld = held();
          const what = `${op.op === "clear" ? "clear" : op.handle ? "handle." : ""}${op.op}(${str(op)})`;
          let result: Result<unknown, unknown>;
          let bad: boolean;
          switch (op.op) {
            case "set": {
              sizeOf = op.sizeOf;
              bad = !isKey(op.key) || !entryFits(op.value, op.key, op.sizeOf);
              const { key, value } = op;
              result = await noThrow(what, () => (op.handle ? handle.set(key as never, value) : cache.set({ workspaceId: W, key: key as never, value })));
              break;
            }
            case "get":
            case "delete": {
              bad = !isKey(op.key);
              const key = op.key as never;
              const method = op.op;
              result = await noThrow(what, () => (op.handle ? handle[method](key) : cache[method]({ workspaceId: W, key })));
              break;
            }
            case "getOrLoad": {
              sizeOf = op.sizeOf;
              const key = op.key === "fresh" ? `fresh-${fresh++}` : op.key;
              const { loader, value } = op.loader;
              // Awaiting a Proxy reads its `then`, which throws: the load fails.
              bad = !isKey(key) || op.loader.fails || isProxy(value) || (value !== undefined && !entryFits(value, key, op.sizeOf));
              loaded = isKey(key);
              result = await noThrow(what, () => (op.handle ? handle.getOrLoad(key as never, loader as never) : cache.getOrLoad({ workspaceId: W, key: key as never }, loader as never)));
              break;
            }
            case "clear":
              bad = false;
              result = await noThrow(what, () => cache.clear({ workspaceId: W }));
          }
          expectErrIff(result, bad, what);
          if (result.isErr()) {
            // A bad key is refused before anything is counted; a failed fill may count a miss, never an entry.
            if (loaded) expect(held(), `${what} must write nothing`).toBe(beforeHeld);
            else expect(stats(), `${what} must change nothing`).toBe(beforeStats);
          }
        }
        cache.close();
      }),
      { numRuns: 120 },
    );
  });
});

// ---------------------------------------------------------------- crypto

const ROOT_KEYS = `k1:${Buffer.alloc(32, 7).toString("base64")}`;
const MAX_PLAINTEXT = 1_024;
const PURPOSE = /^[A-Za-z0-9._:/@-]{1,128}$/;

describe("TenantCipher (memory key store)", () => {
  const clock = new ManualClock();
  const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock, maxPlaintextBytes: MAX_PLAINTEXT });
  const sealedFor = async () => (await cipher.encrypt({ workspaceId: W, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();

  it("decrypt of arbitrary, truncated, bit-flipped or misplaced ciphertexts: Err unless it is the untouched envelope in its place", async () => {
    const sealed = await sealedFor();
    const text = toText(sealed);
    const flip = (bytes: Uint8Array, bit: number) => {
      const out = Uint8Array.from(bytes);
      out[bit >> 3]! ^= 1 << (bit & 7);
      return out;
    };
    const ciphertext = fc.oneof(
      fc.constant(sealed),
      fc.constant(text),
      fc.uint8Array({ maxLength: 120 }),
      fc.nat({ max: sealed.length - 1 }).map((n) => sealed.slice(0, n)),
      fc.nat({ max: sealed.length * 8 - 1 }).map((bit) => flip(sealed, bit)),
      fc.nat({ max: sealed.length * 8 - 1 }).map((bit) => toText(flip(sealed, bit))),
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((extra) => Uint8Array.from([...sealed, ...extra])),
      fc.constantFrom(`${text}=`, text.toUpperCase(), text.slice(0, -1), `tc1.${text}`, text.replace("tc1.", "tc2."), ` ${text}`, "tc1.", ""),
      fc.string(),
      fc.base64String().map((s) => `tc1.${s}`),
      fc.constant(`tc1.${"A".repeat(2_000_000)}`),
      fc.constant(new Uint8Array(MAX_PLAINTEXT + 200)),
      nonString,
    );
    const sameBytes = (c: unknown) => (c instanceof Uint8Array && Buffer.from(c).equals(Buffer.from(sealed))) || c === text;
    await fc.assert(
      fc.asyncProperty(ciphertext, fc.constantFrom(W, W2, W.toUpperCase()), fc.constantFrom("secret:x", "secret:y", "secret:x "), async (c, workspaceId, purpose) => {
        const inPlace = workspaceId.toLowerCase() === W && purpose === "secret:x";
        const what = `decrypt(${str({ c, workspaceId, purpose })})`;
        const opened = await noThrow(what, () => cipher.decrypt({ workspaceId, purpose, ciphertext: c as never }));
        expectErrIff(opened, !(inPlace && sameBytes(c)), what);
        if (opened.isOk()) expect(Buffer.from(opened.value).toString()).toBe("hello");
        const openedText = await noThrow(`decryptText: ${what}`, () => cipher.decryptText({ workspaceId, purpose, ciphertext: c as never }));
        expectErrIff(openedText, !(inPlace && c === text), `decryptText: ${what}`);
        // Nothing a bad ciphertext did broke the workspace's keys.
        expect((await cipher.decrypt({ workspaceId: W, purpose: "secret:x", ciphertext: sealed })).isOk()).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("encrypt of hostile plaintexts and purposes: Err exactly for bad input; Ok round-trips", async () => {
    const plaintext = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 20 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom("", new Uint8Array(0), Buffer.from("buffer")),
      fc.constant("x".repeat(MAX_PLAINTEXT + 1)),
      fc.constant("é".repeat(600)), // 600 characters, 1,200 bytes
      fc.constant(new Uint8Array(MAX_PLAINTEXT + 1)),
      hugeString,
      nonString,
    );
    const purpose = fc.oneof(
      fc.constantFrom("secret:x", "user_property.email", "a", "p".repeat(128)),
      fc.stringMatching(/^[A-Za-z0-9._:/@-]{1,20}$/),
      fc.constantFrom("", "p".repeat(129), "secret x", "secret:x\n", "é"),
      fc.string({ maxLength: 10 }),
      nonString,
    );
    const bytesOf = (p: unknown): Uint8Array | undefined => (p instanceof Uint8Array ? p : typeof p === "string" && p.length <= MAX_PLAINTEXT ? Buffer.from(p, "utf8") : undefined);
    await fc.assert(
      fc.asyncProperty(plaintext, purpose, fc.boolean(), async (p, pur, asText) => {
        const bytes = bytesOf(p);
        const goodPlaintext = bytes !== undefined && bytes.length >= 1 && bytes.length <= MAX_PLAINTEXT && (!asText || typeof p === "string");
        const bad = !goodPlaintext || typeof pur !== "string" || !PURPOSE.test(pur);
        const what = `${asText ? "encryptText" : "encrypt"}(${str({ p: typeof p === "string" && p.length > 100 ? `${p.length} chars` : p, pur })})`;
        const input = { workspaceId: W, purpose: pur as never, plaintext: p as never };
        const sealed = await noThrow(what, () => (asText ? cipher.encryptText(input) : cipher.encrypt(input)));
        expectErrIff(sealed, bad, what);
        if (sealed.isOk()) {
          const opened = await cipher.decrypt({ workspaceId: W, purpose: pur as string, ciphertext: sealed.value });
          expect(Buffer.from(opened._unsafeUnwrap()).equals(Buffer.from(bytes!))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("blindIndex of hostile values, bit lengths and key versions: Err exactly for bad input; Ok is deterministic", async () => {
    await sealedFor(); // W has data key version 1 and no other
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), hugeString, nonString);
    const bits = fc.oneof(fc.constant(undefined), fc.integer({ min: 4, max: 32 }).map((n) => n * 8), fc.constantFrom(0, 8, 24, 31, 33, 264, 128.5, NaN, Infinity, -128), fc.constantFrom("128", 128n), nonString);
    const keyVersion = fc.oneof(fc.constantFrom(undefined, 1, 2, 0, -1, 1.5, 2 ** 32, NaN), fc.constantFrom("1", 1n), nonString);
    await fc.assert(
      fc.asyncProperty(value, bits, keyVersion, async (v, b, k) => {
        // null is an absent option (defaulted with `??`), as everywhere in the library.
        const goodBits = b == null || (typeof b === "number" && Number.isInteger(b) && b % 8 === 0 && b >= 32 && b <= 256);
        const bad = !(typeof v === "string" || v instanceof Uint8Array) || !goodBits || !(k == null || k === 1);
        const what = `blindIndex(${str({ v: typeof v === "string" && v.length > 100 ? `${v.length} chars` : v, b, k })})`;
        const input = { workspaceId: W, purpose: "email", value: v as never, bits: b as never, keyVersion: k as never };
        const index = await noThrow(what, () => cipher.blindIndex(input));
        expectErrIff(index, bad, what);
        if (index.isOk()) expect((await cipher.blindIndex(input))._unsafeUnwrap()).toBe(index.value);
      }),
      { numRuns: 200 },
    );
  });

  it("destroy with a hostile `by`: Err, and the keys are not destroyed", async () => {
    const sealed = await sealedFor();
    const by = fc.oneof(fc.constantFrom("", "x".repeat(201)), hugeString, nonString);
    await fc.assert(
      fc.asyncProperty(by, async (b) => {
        const what = `destroy(${str(typeof b === "string" ? `${b.length} chars` : b)})`;
        expectTypedErr(await noThrow(what, () => cipher.destroy({ workspaceId: W, by: b as never })), what);
        expect((await cipher.decrypt({ workspaceId: W, purpose: "secret:x", ciphertext: sealed })).isOk(), "still decrypts").toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------- audit

/** A field value and whether the docs call it bad. */
type Tagged = { readonly v: unknown; readonly bad: boolean };
const tagged = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>, badWeight = 1): fc.Arbitrary<Tagged> =>
  fc.oneof({ weight: 5, arbitrary: good.map((v) => ({ v, bad: false })) }, { weight: badWeight, arbitrary: bad.map((v) => ({ v, bad: true })) });

const text = fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" });
/** A text field the docs refuse: empty, over 512, a lone surrogate, U+0000, or not a string. */
const badText = fc.oneof(fc.constantFrom("", "x".repeat(513), "a\uD800b", "\uDC00", "a\u0000b"), nonStringDefined);
const badJsonObject = fc.oneof(
  fresh(cyclic),
  fresh(() => ({ nested: { list: [1, cyclic()] } })),
  fc.bigInt().map((n) => ({ n })),
  fc.constant({ f: () => 1 }),
  fc.constant({ toJSON: () => { throw new Error("toJSON"); } }),
  fc.string({ maxLength: 4 }).map((s) => ({ s: Symbol(s) })),
  fc.constant({ u: undefined }),
  fc.constant({ list: [1, , 3] }),
  fc.constantFrom(NaN, Infinity, -Infinity).map((n) => ({ n })),
  fc.constant({ d: new Date(0) }),
  fc.constant({ m: new Map([[1, 2]]) }),
  fc.constant({ c: new (class Point { x = 1; })() }),
  fresh(throwingGetter),
  fresh(() => ({ inner: throwingGetter() })),
  fresh(throwingProxy),
  fresh(() => ({ inner: [throwingProxy()] })),
  fresh(() => ({ big: "x".repeat(17_000) })),
  fresh(() => nested(40)),
  fc.constantFrom({ s: "a\uDC00" }, { "\uD800": 1 }),
  fc.constantFrom(null, "text", 5, true, [1, 2]),
  nonStringDefined.filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
);

const auditEvent = fc.record({
  workspaceId: tagged(fc.constant(W), badId, 1),
  actor: tagged(
    fc.record({ type: text, id: text, display: text }, { requiredKeys: ["type", "id"] }),
    fc.oneof(
      fc.constantFrom(null, undefined, "member", 5, [], {}),
      fc.record({ type: badText, id: text }),
      fc.record({ type: text, id: badText }),
      fc.record({ type: text, id: text, display: badText }),
      fc.record({ id: text }),
      nonStringDefined.filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
    ),
  ),
  action: tagged(
    fc.stringMatching(/^[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){1,3}$/),
    fc.oneof(fc.constantFrom("", "journey", "Journey.updated", "journey.", ".x", "journey..x", "journey.updated\n", `a.${"b".repeat(130)}`), nonString),
  ),
  targets: tagged(
    fc.option(fc.array(fc.record({ type: text, id: text }), { maxLength: 3 }), { nil: undefined }),
    fc.oneof(
      fc.constantFrom(null, "journey", 5, { type: "journey", id: "j" }),
      fc.array(fc.record({ type: text, id: text }), { minLength: 33, maxLength: 33 }),
      fc.tuple(fc.record({ type: text, id: text }), fc.oneof(fc.constantFrom(null, 5, "x", {}), fc.record({ type: badText, id: text }), fc.record({ type: text, id: badText }))).map((t) => [...t]),
    ),
  ),
  outcome: tagged(
    fc.oneof(fc.constant(undefined), fc.constant({ status: "success" }), fc.record({ status: fc.constant("failure"), reason: text })),
    fc.oneof(fc.constantFrom(null, "success", 5, {}, { status: "ok" }), fc.record({ status: fc.constant("failure"), reason: badText })),
  ),
  context: tagged(
    fc.option(fc.record({ requestId: text, ip: text, userAgent: text }, { requiredKeys: [] }), { nil: undefined }),
    fc.oneof(fc.constantFrom(null, "ctx", 5, [1]), fc.record({ ip: badText }), fc.record({ requestId: badText }), fc.record({ userAgent: badText })),
  ),
  metadata: tagged(fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), { nil: undefined }), badJsonObject, 2),
  personal: tagged(
    fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(text, fc.integer(), fc.boolean()), { maxKeys: 3 }), { nil: undefined }),
    fc.oneof(badJsonObject, fc.constant({ email: "a\u0000b" })),
  ),
  occurredAt: tagged(
    fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 0, max: 253_402_300_799_999 }),
      fc.double({ min: 0, max: 1e12, noNaN: true }),
      fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }),
      fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, -1, 253_402_300_800_000, "garbage", "", "2020-13-45T00:00:00Z", new Date(NaN)), nonStringDefined.filter((v) => typeof v !== "number" && !(v instanceof Date))),
  ),
  idempotencyKey: tagged(fc.constantFrom(undefined, "unique"), badText),
});

describe("AuditLogger (memory store)", () => {
  it("events with hostile fields: Err exactly for bad input; after an Err the chain verifies with the same entries", async () => {
    let unique = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(auditEvent, { minLength: 1, maxLength: 4 }), async (events) => {
        const store = new MemoryAuditStore();
        const audit = new AuditLogger({ store, clock: new ManualClock(), random: seededRandom(7), batch: { lingerMs: 0 } });
        const report = async () => (await audit.verify({ workspaceId: W }))._unsafeUnwrap();
        await audit.append({ workspaceId: W, actor: { type: "member", id: "m1" }, action: "journey.updated" });
        for (const fields of events) {
          const event: Record<string, unknown> = {};
          let bad = false;
          for (const [name, { v, bad: isBad }] of Object.entries(fields)) {
            bad ||= isBad;
            // A good idempotency key is unique, so a good event always adds an entry.
            event[name] = name === "idempotencyKey" && v === "unique" ? `key-${unique++}` : v;
          }
          const what = `append(${str(event)})`;
          const before = await report();
          const appended = await noThrow(what, () => audit.append(event as never));
          expectErrIff(appended, bad, what);
          const after = await report();
          expect(after.ok, `${what}: the chain verifies`).toBe(true);
          expect(after.entries, `${what}: entries`).toBe(before.entries + (appended.isOk() ? 1 : 0));
        }
        await audit.close();
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- metrics

const DECLARED = { sent: "counter", active: "upDownCounter", depth: "gauge", latency_ms: "histogram" } as const;
type Kind = (typeof DECLARED)[keyof typeof DECLARED];
const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.keys(DECLARED)) },
  { weight: 1, arbitrary: fc.constantFrom("SENT", "sent ", "__proto__", "constructor", "toString", "", "new_metric", "latency-ms") },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: hugeString },
  { weight: 3, arbitrary: nonString },
);
const metricValue = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1, -1, NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MIN_VALUE) },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom("1", 1n), nonString) },
);
/** Whether `value` may be recorded into a metric of `kind` (docs/metrics.md). */
const goodValue = (kind: Kind, value: unknown) => typeof value === "number" && Number.isFinite(value) && !(kind === "counter" && value < 0);

type MetricsOp =
  | { op: "add" | "set" | "observe"; workspaceId: unknown; metric: unknown; value: unknown }
  | { op: "bound"; instrument: Kind; metric: unknown; value: unknown }
  | { op: "sink"; method: "add" | "observe"; workspaceId: unknown; metric: unknown; value: unknown };
const metricsWorkspace = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(W, W2) }, { weight: 1, arbitrary: badId });
const metricsOp: fc.Arbitrary<MetricsOp> = fc.oneof(
  fc.record({ op: fc.constantFrom("add" as const, "set" as const, "observe" as const), workspaceId: metricsWorkspace, metric: metricName, value: metricValue }),
  fc.record({ op: fc.constant("bound" as const), instrument: fc.constantFrom<Kind>("counter", "upDownCounter", "gauge", "histogram"), metric: metricName, value: metricValue }),
  fc.record({ op: fc.constant("sink" as const), method: fc.constantFrom("add" as const, "observe" as const), workspaceId: metricsWorkspace, metric: metricName, value: metricValue }),
);

describe("TenantMetrics", () => {
  it("hostile names, values and ids: Err exactly for bad input and nothing recorded; the sink never throws and counts what it drops", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(metricsOp, { minLength: 1, maxLength: 12 }), async (ops) => {
        const metrics = new TenantMetrics({ clock: new ManualClock(), maxWorkspaces: 16 });
        metrics.counter("sent");
        metrics.upDownCounter("active");
        metrics.gauge("depth");
        metrics.histogram("latency_ms");
        const sink = metrics.sink();
        const handle = metrics.workspace(W)._unsafeUnwrap();
        /** Kinds of every declared metric, including the ones the sink declares on first use. */
        const kinds = new Map<unknown, Kind>(Object.entries(DECLARED));
        const state = () => JSON.stringify([metrics.stats(), metrics.snapshot()]);
        for (const op of ops) {
          const what = `${op.op}(${str(op)})`;
          const before = state();
          if (op.op === "sink") {
            const kind = op.method === "add" ? "counter" : "histogram";
            if (typeof op.metric === "string" && METRIC_NAME.test(op.metric) && op.metric !== "__proto__" && !kinds.has(op.metric)) kinds.set(op.metric, kind);
            const applied = kinds.get(op.metric) === kind && isValidId(op.workspaceId) && goodValue(kind, op.value);
            const dropped = sink.dropped();
            await noThrow(what, () => sink[op.method](op.workspaceId as never, op.metric as never, op.value as never));
            expect(sink.dropped() - dropped, `${what}: dropped`).toBe(applied ? 0 : 1);
            continue;
          }
          let result: Result<unknown, unknown>;
          let bad: boolean;
          if (op.op === "bound") {
            bad = kinds.get(op.metric) !== op.instrument || !goodValue(op.instrument, op.value);
            const metric = op.metric as never;
            const value = op.value as never;
            result = await noThrow(what, () => {
              switch (op.instrument) {
                case "counter":
                  return handle.counter(metric).add(value);
                case "upDownCounter":
                  return handle.upDownCounter(metric).add(value);
                case "gauge":
                  return handle.gauge(metric).set(value);
                case "histogram":
                  return handle.histogram(metric).record(value);
              }
            });
          } else {
            const wanted = op.op === "add" ? ["counter", "upDownCounter"] : op.op === "set" ? ["gauge"] : ["histogram"];
            const kind = kinds.get(op.metric);
            bad = kind === undefined || !wanted.includes(kind) || !isValidId(op.workspaceId) || !goodValue(kind, op.value);
            const input = { workspaceId: op.workspaceId as never, metric: op.metric as never, value: op.value as never };
            const method = op.op;
            result = await noThrow(what, () => metrics[method](input));
          }
          expectErrIff(result, bad, what);
          if (result.isErr()) expect(state(), `${what} must record nothing`).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
  });
});

// ---------------------------------------------------------------- config

type VarSpec = { readonly valid: fc.Arbitrary<string>; readonly invalid?: fc.Arbitrary<string> };
const intString = (min: number, max: number) => fc.integer({ min, max }).map(String);
const hugeJson = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `plan-${i}` })));
const VARS: Record<string, VarSpec> = {
  TENANCY_REDIS_URL: {
    valid: fc.constantFrom("redis://localhost:6379", "rediss://u:p@cache.internal:6380/2", "redis://[::1]:6379/0"),
    invalid: fc.constantFrom("http://localhost:6379", "localhost:6379", "redis", "postgres://h/db"),
  },
  TENANCY_DATABASE_URL: {
    valid: fc.constantFrom("postgres://u:p@localhost:5432/app", "postgresql://db.internal/app?sslmode=require"),
    invalid: fc.constantFrom("mysql://h/db", "redis://h", "not a url"),
  },
  TENANCY_LOG_LEVEL: { valid: fc.mixedCase(fc.constantFrom(...LOG_LEVELS)), invalid: fc.constantFrom("verbose", "warning", "in fo", "0") },
  TENANCY_REDIS_TIMEOUT_MS: { valid: fc.oneof(intString(1, 60_000), fc.constant("007")), invalid: fc.constantFrom("0", "60001", "1.5", "1e3", "+5", " 5", "abc", "-1") },
  TENANCY_QUOTA_PLANS: {
    valid: fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.constantFrom(hugeJson, `${"[".repeat(20_000)}${"]".repeat(20_000)}`, '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}'),
    ),
    invalid: fc.constantFrom("{", "{'a': 1}", "NaN", "undefined", "[1,]", '{"a":1}}', hugeJson.slice(0, -1)),
  },
  TENANCY_ROOT_KEYS: { valid: fc.string({ minLength: 1, maxLength: 40 }) },
  TENANCY_AUDIT_SIGNING_KEY: { valid: fc.string({ minLength: 1, maxLength: 40 }) },
  TENANCY_METRICS_TOP_K: { valid: intString(1, 100_000), invalid: fc.constantFrom("0", "100001", "ten") },
  TENANCY_METRICS_MAX_WORKSPACES: { valid: intString(1, 50_000_000), invalid: fc.constantFrom("0", "50000001", "1_000") },
  TENANCY_METRICS_IDLE_TTL_MS: { valid: intString(0, 2_147_483_647), invalid: fc.constantFrom("-1", "2147483648", "1.0") },
};
const KNOWN = new Set(Object.values(CONFIG_VARIABLES).map((v) => v.name));

const varValue = (spec: VarSpec): fc.Arbitrary<Tagged> =>
  fc.oneof(
    { weight: 6, arbitrary: spec.valid.map((v) => ({ v, bad: false })) },
    // Empty and undefined count as unset.
    { weight: 1, arbitrary: fc.constantFrom("", undefined).map((v) => ({ v, bad: false })) },
    { weight: 2, arbitrary: (spec.invalid ?? nonStringDefined).map((v) => ({ v, bad: true })) },
    // A value of another type (a number from a parsed YAML file, null, an object) is a bad value too.
    { weight: 2, arbitrary: nonStringDefined.map((v) => ({ v, bad: true })) },
  );
const envInput = fc.record({
  known: fc.record(Object.fromEntries(Object.entries(VARS).map(([name, spec]) => [name, varValue(spec)])), { requiredKeys: [] }),
  unknown: fc.array(fc.oneof(fc.constantFrom("TENANCY_REDIS_URI", "TENANCY_LOGLEVEL", "TENANCY_", "TENANCY_ROOT_KEY"), fc.string({ maxLength: 12 }).map((s) => `TENANCY_${s}`)), { maxLength: 2 }),
  ignored: fc.array(fc.tuple(fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "toString", "TENANCY_TEST_X", "PATH", "tenancy_redis_url"), fc.string({ maxLength: 12 })), hostile), { maxLength: 4 }),
});

describe("loadConfig and TENANCY_QUOTA_PLANS", () => {
  it("hostile env objects: Err listing exactly the bad variables, Ok with well-typed values otherwise, and no prototype pollution", () => {
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join();
    fc.assert(
      fc.property(envInput, ({ known: partial, unknown, ignored }) => {
        const known = partial as Record<string, Tagged>;
        const unknownNames = unknown.filter((n) => !KNOWN.has(n) && !n.startsWith("TENANCY_TEST_"));
        const ignoredEntries = ignored.filter(([k]) => !k.startsWith("TENANCY_") || k.startsWith("TENANCY_TEST_"));
        // fromEntries defines own properties, so "__proto__" is a key like any other here.
        const env = Object.fromEntries([...ignoredEntries, ...unknownNames.map((n) => [n, "x"]), ...Object.entries(known).map(([n, t]) => [n, t.v])]) as Record<string, string>;
        const expectedBad = [...new Set([...Object.entries(known).filter(([, t]) => t.bad).map(([n]) => n), ...unknownNames])].sort();
        const what = `loadConfig(${str(env)})`;
        let result: ReturnType<typeof loadConfig>;
        try {
          result = loadConfig(env);
        } catch (thrown) {
          throw new Error(`${what} threw: ${show(thrown)}`);
        }
        expectErrIff(result, expectedBad.length > 0, what);
        if (result.isErr()) {
          expect(result.error.type).toBe("InvalidConfig");
          // Every bad variable at once, each once, and nothing else.
          expect(result.error.problems.map((p) => p.variable).sort(), what).toEqual(expectedBad);
        } else {
          const c = result.value;
          for (const v of [c.redisUrl, c.databaseUrl, c.rootKeys, c.auditSigningKey]) expect(v === undefined || typeof v === "string", `${what}: string or unset`).toBe(true);
          expect(LOG_LEVELS).toContain(c.logLevel);
          for (const n of [c.redisTimeoutMs, c.metricsTopK, c.metricsMaxWorkspaces, c.metricsIdleTtlMs]) expect(Number.isSafeInteger(n), `${what}: integer`).toBe(true);
        }
        expect(Object.getOwnPropertyNames(Object.prototype).join(), "Object.prototype untouched").toBe(prototypeKeys);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("policiesFromEnv with hostile plan names and limit values: Err exactly for bad input (an inherited property is no plan)", () => {
    const planName = fc.oneof(fc.constant("free"), fc.constantFrom("pro", "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"), nonString);
    const kind = fc.oneof(fc.constantFrom("count", "concurrency"), fc.constantFrom("rate ", "COUNT", ""), nonString);
    const limit = fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.constantFrom(0, -1, 1.5, NaN, Infinity, 2 ** 48, "5"), nonString);
    fc.assert(
      fc.property(planName, fc.option(planName, { nil: undefined }), kind, limit, fc.boolean(), (defaultPlan, assigned, k, l, asJson) => {
        const config = {
          plans: { free: { calls: { kind: k, limit: l } } },
          defaultPlan,
          ...(assigned === undefined ? {} : { workspaces: { [W]: { plan: assigned } } }),
        };
        const isPlan = (n: unknown) => typeof n === "string" && Object.hasOwn(config.plans, n);
        const bad =
          !isPlan(defaultPlan) || (assigned !== undefined && !isPlan(assigned)) || (k !== "count" && k !== "concurrency") ||
          typeof l !== "number" || !Number.isInteger(l) || l < 1 || l > 2 ** 47;
        let input: unknown = config;
        if (asJson) {
          try {
            input = JSON.stringify(config);
          } catch {
            // BigInts have no JSON form: pass the object itself.
          }
        }
        const what = `policiesFromEnv(${str(input)})`;
        let result: ReturnType<typeof policiesFromEnv>;
        try {
          result = policiesFromEnv(input);
        } catch (thrown) {
          throw new Error(`${what} threw: ${show(thrown)}`);
        }
        // JSON drops undefined and functions, and turns NaN into null: judge what the parser will see.
        const seen = typeof input === "string" ? (JSON.parse(input) as typeof config) : config;
        const badSeen =
          typeof input === "string"
            ? !isPlan(seen.defaultPlan) || (seen.workspaces?.[W]?.plan !== undefined && !isPlan(seen.workspaces[W].plan)) ||
              (seen.plans.free.calls.kind !== "count" && seen.plans.free.calls.kind !== "concurrency") ||
              typeof seen.plans.free.calls.limit !== "number" || !Number.isInteger(seen.plans.free.calls.limit) || seen.plans.free.calls.limit < 1 || seen.plans.free.calls.limit > 2 ** 47
            : bad;
        expectErrIff(result, badSeen, what);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------- non-object arguments

describe("calls that take one object", () => {
  it("answer any other argument with a typed Err, never a TypeError from a property read", async () => {
    const clock = new ManualClock();
    const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const quota = guard.workspace(W)._unsafeUnwrap();
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock });
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock });
    const audit = new AuditLogger({ clock, random: seededRandom(1), batch: { lingerMs: 0 } });
    const metrics = new TenantMetrics({ clock });
    metrics.counter("sent");
    const notAnObject = fc.oneof(fc.constantFrom(null, undefined, 0, NaN, "", "text", true, 1n), fc.string({ maxLength: 4 }).map((s) => Symbol(s)));
    await fc.assert(
      fc.asyncProperty(notAnObject, async (arg) => {
        const a = arg as never;
        const calls: [string, () => unknown][] = [
          ["quota.consume", () => guard.consume(a)],
          ["quota.check", () => guard.check(a)],
          ["quota.reserve", () => guard.reserve(a)],
          ["quota.acquire", () => guard.acquire(a)],
          ["quota.commit", () => guard.commit(a)],
          ["quota.release", () => guard.release(a)],
          ["quota.reconcile", () => guard.reconcile(a)],
          ["quota handle.consume", () => quota.consume(a)],
          ["quota handle.check", () => quota.check(a)],
          ["quota handle.reserve", () => quota.reserve(a)],
          ["cache.get", () => cache.get(a)],
          ["cache.set", () => cache.set(a)],
          ["cache.delete", () => cache.delete(a)],
          ["cache.getOrLoad", () => cache.getOrLoad(a, () => 1)],
          ["cache.clear", () => cache.clear(a)],
          ["cipher.field", () => cipher.field(a)],
          ["cipher.encrypt", () => cipher.encrypt(a)],
          ["cipher.decrypt", () => cipher.decrypt(a)],
          ["cipher.encryptText", () => cipher.encryptText(a)],
          ["cipher.decryptText", () => cipher.decryptText(a)],
          ["cipher.blindIndex", () => cipher.blindIndex(a)],
          ["cipher.rotate", () => cipher.rotate(a)],
          ["cipher.destroy", () => cipher.destroy(a)],
          ["audit.append", () => audit.append(a)],
          ["audit.verify", () => audit.verify(a)],
          ["audit.query", () => audit.query(a)],
          ["audit.checkpoint", () => audit.checkpoint(a)],
          ["audit.checkpoints", () => audit.checkpoints(a)],
          ["audit.exportLog", () => audit.exportLog(a)],
          ["audit.erase", () => audit.erase(a)],
          ["audit.prune", () => audit.prune(a)],
          ["metrics.add", () => metrics.add(a)],
          ["metrics.set", () => metrics.set(a)],
          ["metrics.observe", () => metrics.observe(a)],
          ["metrics.usage", () => metrics.usage(a)],
        ];
        for (const [what, call] of calls) {
          const label = `${what}(${str(arg)})`;
          expectTypedErr((await noThrow(label, call)) as Result<unknown, unknown>, label);
        }
      }),
      { numRuns: 40 },
    );
    await guard.close();
    await audit.close();
  });
});

// ---------------------------------------------------------------- regressions

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties above)", () => {
  const noProto = () => Object.create(null) as never;

  it("quota: a cost, actual or limit of any type is a typed Err (String() of a prototype-less object threw)", async () => {
    const guard = new QuotaGuard({ clock: new ManualClock(), policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    expectTypedErr(await noThrow("consume", () => guard.consume({ workspaceId: W, limit: "calls", cost: noProto() })), "consume", ["InvalidCost"]);
    expectTypedErr(await noThrow("reconcile actual", () => guard.reconcile({ workspaceId: W, limit: "items", actual: noProto() })), "reconcile", ["InvalidInput"]);
    expectTypedErr(await noThrow("reconcile limit", () => guard.reconcile({ workspaceId: W, limit: noProto(), actual: 1 })), "reconcile", ["InvalidInput"]);
    expectTypedErr(await noThrow("reconcile toString", () => guard.reconcile({ workspaceId: W, limit: "__proto__", actual: throwingToString() as never })), "reconcile", ["InvalidInput"]);
  });

  it("quota: commit/release/reconcile and the workspace handle refuse a missing request instead of throwing", async () => {
    const guard = new QuotaGuard({ clock: new ManualClock(), policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const handle = guard.workspace(W)._unsafeUnwrap();
    for (const [what, call] of [
      ["commit(null)", () => guard.commit(null as never)],
      ["release(undefined)", () => guard.release(undefined as never)],
      ["reconcile(null)", () => guard.reconcile(null as never)],
      ["handle.consume(null)", () => handle.consume(null as never)],
      ["handle.check(undefined)", () => handle.check(undefined as never)],
      ["handle.reserve(null)", () => handle.reserve(null as never)],
    ] as [string, () => Promise<Result<unknown, unknown>>][]) {
      expectTypedErr(await noThrow(what, call), what, ["InvalidInput"]);
    }
  });

  it("quota plans: an inherited property is no plan, and values of any type are described", () => {
    for (const defaultPlan of ["toString", "__proto__", "constructor"]) {
      expectTypedErr(policiesFromEnv({ plans: { free: {} }, defaultPlan }), `defaultPlan ${defaultPlan}`, ["PolicyUnavailable"]);
    }
    expectTypedErr(policiesFromEnv(`{"plans":{"free":{}},"defaultPlan":"free","workspaces":{"${W}":{"plan":"hasOwnProperty"}}}`), "workspace plan", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: {} }, defaultPlan: 1n }), "bigint defaultPlan", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: { x: { kind: noProto(), limit: 1 } } }, defaultPlan: "free" }), "kind", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: { x: { kind: "count", limit: throwingToString() } } }, defaultPlan: "free" }), "limit", ["PolicyUnavailable"]);
  });

  it("loadConfig: a value that is not a string is a problem of its variable (it threw, or reached the config as a number)", () => {
    for (const [name, value] of [
      ["TENANCY_LOG_LEVEL", 5],
      ["TENANCY_ROOT_KEYS", 5],
      ["TENANCY_METRICS_MAX_WORKSPACES", Object.create(null)],
      ["TENANCY_REDIS_TIMEOUT_MS", null],
      ["TENANCY_QUOTA_PLANS", { plans: {} }],
    ] as const) {
      const result = loadConfig({ [name]: value as never });
      expectTypedErr(result, name, ["InvalidConfig"]);
      if (result.isErr()) expect(result.error.problems.map((p) => p.variable)).toEqual([name]);
    }
  });

  it("cache: a sizeOf answer of any type is InvalidSize; a missing argument is InvalidWorkspaceId", async () => {
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock: new ManualClock(), sizeOf: () => Object.create(null) as number });
    expectTypedErr(await noThrow("set", () => cache.set({ workspaceId: W, key: "k", value: 1 })), "set", ["InvalidSize"]);
    for (const [what, call] of [
      ["get(null)", () => cache.get(null as never)],
      ["set(undefined)", () => cache.set(undefined as never)],
      ["delete(null)", () => cache.delete(null as never)],
      ["getOrLoad(null)", () => cache.getOrLoad(null as never, () => 1)],
      ["clear(null)", () => cache.clear(null as never)],
    ] as [string, () => unknown][]) {
      expectTypedErr((await noThrow(what, call)) as Result<unknown, unknown>, what, ["InvalidWorkspaceId"]);
    }
  });

  it("cache: a refused set through the handle of a cleared workspace leaves no empty partition behind", () => {
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock: new ManualClock(), sizeOf: () => NaN });
    const handle = cache.workspace(W)._unsafeUnwrap();
    cache.clear({ workspaceId: W });
    const before = JSON.stringify(cache.stats());
    expectTypedErr(handle.set("a", {}), "handle.set", ["InvalidSize"]);
    expect(JSON.stringify(cache.stats())).toBe(before);
  });

  it("crypto: blindIndex with bits of any type is InvalidInput (it rejected)", async () => {
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore() });
    for (const bits of [noProto(), throwingToString(), throwingProxy()]) {
      expectTypedErr(await noThrow("blindIndex", () => cipher.blindIndex({ workspaceId: W, purpose: "email", value: "v", bits: bits as never })), "blindIndex", ["InvalidInput"]);
    }
  });

  it("audit: metadata whose reading throws (a getter, a Proxy) is NotSerializable and writes nothing (append rejected)", async () => {
    const audit = new AuditLogger({ clock: new ManualClock(), random: seededRandom(1), batch: { lingerMs: 0 } });
    for (const metadata of [throwingGetter(), { inner: [throwingProxy()] }, throwingProxy()]) {
      const appended = await noThrow("append", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", metadata: metadata as never }));
      expectTypedErr(appended, "append", ["NotSerializable"]);
    }
    expectTypedErr(await noThrow("personal", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", personal: { inner: throwingGetter() } as never })), "personal", ["NotSerializable"]);
    expect((await audit.verify({ workspaceId: W }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 0 });
    for (const [what, call] of [
      ["verify(null)", () => audit.verify(null as never)],
      ["query(undefined)", () => audit.query(undefined as never)],
      ["checkpoint(null)", () => audit.checkpoint(null as never)],
      ["prune(null)", () => audit.prune(null as never)],
    ] as [string, () => unknown][]) {
      expectTypedErr((await noThrow(what, call)) as Result<unknown, unknown>, what, ["InvalidInput"]);
    }
    await audit.close();
  });

  it("metrics: names of any type are UnknownMetric, a missing argument is an Err, and the sink never throws", async () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    metrics.counter("sent");
    const handle = metrics.workspace(W)._unsafeUnwrap();
    expectTypedErr(await noThrow("add bigint", () => metrics.add({ workspaceId: W, metric: 10n as never, value: 1 })), "add", ["UnknownMetric"]);
    expectTypedErr(await noThrow("handle bigint", () => handle.counter(10n as never).add(1)), "handle", ["UnknownMetric"]);
    expectTypedErr(await noThrow("add proxy", () => metrics.add({ workspaceId: W, metric: throwingProxy() as never, value: 1 })), "add", ["UnknownMetric"]);
    expectTypedErr(await noThrow("add(null)", () => metrics.add(null as never)), "add(null)", ["UnknownMetric"]);
    expectTypedErr(await noThrow("usage(null)", () => metrics.usage(null as never)), "usage(null)", ["InvalidWorkspaceId"]);
    const sink = metrics.sink();
    for (const name of [null, undefined, ["sent"], Symbol("s"), throwingToString()]) {
      const dropped = sink.dropped();
      await noThrow("sink.add", () => sink.add(W as never, name as never, 1));
      expect(sink.dropped()).toBe(dropped + 1);
    }
    expect(metrics.metrics().map((m) => m.name)).toEqual(["sent"]);
  });

  it("metrics: a handle asked for a name as another kind than it was bound gets an Err, not the other instrument (it threw)", async () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    metrics.histogram("latency_ms");
    metrics.counter("sent");
    const handle = metrics.workspace(W)._unsafeUnwrap();
    expect(handle.histogram("latency_ms").record(1).isOk()).toBe(true);
    expectTypedErr(await noThrow("counter(histogram name)", () => handle.counter("latency_ms").add(1)), "counter", ["UnknownMetric"]);
    expect(handle.counter("sent").add(1).isOk()).toBe(true);
    // Before the fix this returned the bound counter, so the up-down add of +1 went into a monotonic counter.
    expectTypedErr(await noThrow("upDownCounter(counter name)", () => handle.upDownCounter("sent").add(1)), "upDownCounter", ["UnknownMetric"]);
    expect(metrics.usage({ workspaceId: W })._unsafeUnwrap().values.sent).toBe(1);
  });
  it("cache: a per-call ttlMs that is NaN, negative, infinite or not a number is InvalidInput (it meant \"never expires\")", () => {
    const cache = new TenantCache<unknown>({ maxBytes: 1 << 16, clock: new ManualClock() });
    const handle = cache.workspace(W)._unsafeUnwrap();
    const before = JSON.stringify(cache.stats());
    for (const ttlMs of [Number.NaN, -1, Number.POSITIVE_INFINITY, "5", noProto()]) {
      expectTypedErr(handle.set("a", 1, { ttlMs: ttlMs as never }), "handle.set", ["InvalidInput"]);
      expectTypedErr(cache.set({ workspaceId: W, key: "a", value: 1, ttlMs: ttlMs as never }), "set", ["InvalidInput"]);
    }
    expect(JSON.stringify(cache.stats())).toBe(before);
    expect(handle.set("a", 1, { ttlMs: 0 }).isOk()).toBe(true);
  });

  it("audit: filters, cursors, seqs, dates and actors that cannot be read are InvalidInput or InvalidAuditEvent (they rejected)", async () => {
    const audit = new AuditLogger({ clock: new ManualClock(), random: seededRandom(1), batch: { lingerMs: 0 } });
    const fakeDate = Object.create(Date.prototype) as Date;
    for (const [what, call, types] of [
      ["query cursor", () => audit.query({ workspaceId: W, cursor: noProto() }), ["InvalidInput"]],
      ["query target", () => audit.query({ workspaceId: W, target: { type: Symbol("t") as never, id: "1" } }), ["InvalidInput"]],
      ["query since", () => audit.query({ workspaceId: W, since: fakeDate }), ["InvalidInput"]],
      ["erase seqs", () => audit.erase({ workspaceId: W, seqs: 5 as never }), ["InvalidInput"]],
      ["append actor", () => audit.append({ workspaceId: W, actor: throwingProxy() as never, action: "journey.updated" }), ["InvalidAuditEvent"]],
      ["append occurredAt", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", occurredAt: fakeDate }), ["InvalidAuditEvent"]],
    ] as [string, () => unknown, string[]][]) {
      expectTypedErr((await noThrow(what, call)) as Result<unknown, unknown>, what, types);
    }
    expect((await audit.verify({ workspaceId: W }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 0 });
    await audit.close();
  });

  it("metrics: __proto__ is no metric name (usage() reported nothing for it)", () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    expect(() => metrics.counter("__proto__")).toThrow(TypeError);
    const sink = metrics.sink();
    sink.add(W as never, "__proto__", 1);
    expect(sink.dropped()).toBe(1);
    expect(metrics.metrics()).toEqual([]);
  });
});
