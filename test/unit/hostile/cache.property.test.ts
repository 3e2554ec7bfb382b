import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { estimateSize, TenantCache } from "../../../src/cache/index.js";
import { ManualClock } from "../../../src/core/index.js";
import { cacheKeys, entryFits, loaderSpecs, MAX_ENTRY, MAX_KEY, sizeOfBehaviours, type LoaderSpec } from "./cache-ops.js";
import { expectErrIff, expectTypedErr, hostile, isProxy, noProto, noThrow, str, W } from "./hostile-values.js";

const sizeOfBehaviour = sizeOfBehaviours({ maxSize: 6_000, doubles: true, hostileWeight: 2 });
const cacheKey = cacheKeys(["a", "b", "", "__proto__", "constructor"]);
const cacheValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), hostile);
const isKey = (k: unknown): k is string => typeof k === "string" && k.length <= MAX_KEY;
const loaderSpec = loaderSpecs(cacheValue, { throwingThen: true });

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

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
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
});
