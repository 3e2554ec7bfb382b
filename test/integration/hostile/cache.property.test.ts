import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { estimateSize } from "../../../src/cache/index.js";
import { RedisTenantCache } from "../../../src/cache/redis.js";
import { ManualClock } from "../../../src/core/index.js";
import { redisKeyPrefix } from "../../../src/core/redis/keys.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { cacheKeys, entryFits, loaderSpecs, MAX_ENTRY, MAX_KEY, sizeOfBehaviours, type LoaderSpec } from "../../unit/hostile/cache-ops.js";
import { cyclic, expectErrIff, expectTypedErr, fresh, hostile, isProxy, noThrow, str } from "../../unit/hostile/hostile-values.js";
import { fileRedis, isWellFormed, redisState, unstorable } from "./stores.js";

/** RedisTenantCache with hostile input and corrupt Redis data (see stores.ts). */

const redis = fileRedis();

/** The default codec's verdict: a string, or bad (it throws or gives no string). */
function encodable(value: unknown): boolean {
  if (value === undefined) return true;
  try {
    return typeof JSON.stringify(value) === "string";
  } catch {
    return false;
  }
}
/** A key the Redis tier can address: a well-formed string within maxKeyLength (a lone surrogate has no UTF-8 form). */
const isRedisKey = (k: unknown): k is string => typeof k === "string" && k.length <= MAX_KEY && isWellFormed(k);

/** A size function that never serialises (sizes up to 3,000), so values JSON cannot encode reach the codec. */
const sizeOfBehaviour = sizeOfBehaviours({ maxSize: 3_000, doubles: false, hostileWeight: 1 });
/** The unit suite's keys, and keys that look like the key layout, graphemes and strings Redis cannot hold as given. */
const cacheKey = cacheKeys(["a", "b", "", "__proto__", ":1:a", "e:0:0:1:a", "{x}", "*", "a b\r\n"], [
  { weight: 2, arbitrary: fc.string({ maxLength: 20, unit: "grapheme" }) },
  { weight: 2, arbitrary: unstorable },
]);

/** Values JSON cannot encode, at the top or nested. */
const unserialisable = fc.oneof(
  fc.bigInt().map((n) => n),
  fc.bigInt().map((n) => ({ n })),
  fresh(cyclic),
  fresh(() => [1, { inner: cyclic() }]),
  fc.constant(() => 1),
  fc.string({ maxLength: 4 }).map((s) => Symbol(s)),
  fc.constant({ toJSON: () => { throw new Error("toJSON"); } }),
  fc.constant({ nested: { toJSON: () => { throw new Error("toJSON"); } } }),
  fresh(() => ({ toJSON: () => cyclic() })),
);
const cacheValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), unserialisable, hostile);
/** Options of the invalidating calls: absent, valid, or a bad shape (no throwing reads). */
const invalidateOptions = fc.oneof(fc.constant(undefined), fc.constant({}), fc.record({ acknowledged: fc.boolean() }), fc.constant(null));

/** The test's own descriptions of calls: plain objects (fast-check 4 may otherwise make them prototype-less). */
const OWN = { noNullPrototype: true } as const;

const loaderSpec = loaderSpecs(cacheValue, { throwingThen: false });

type CacheOp =
  | { op: "set"; handle: boolean; key: unknown; value: unknown; sizeOf: (v: unknown, k: string) => unknown; options: unknown }
  | { op: "get"; handle: boolean; key: unknown }
  | { op: "delete"; handle: boolean; key: unknown; options: unknown }
  | { op: "getOrLoad"; handle: boolean; key: unknown; loader: LoaderSpec; sizeOf: (v: unknown, k: string) => unknown }
  | { op: "clear"; handle: boolean; options: unknown }
  | { op: "missing"; method: "get" | "set" | "delete" | "getOrLoad" | "clear"; arg: null | undefined };
const cacheOp: fc.Arbitrary<CacheOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("set" as const), handle: fc.boolean(), key: cacheKey, value: cacheValue, sizeOf: sizeOfBehaviour, options: invalidateOptions }, OWN) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("get" as const), handle: fc.boolean(), key: cacheKey }, OWN) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), handle: fc.boolean(), key: cacheKey, options: invalidateOptions }, OWN) },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("getOrLoad" as const), handle: fc.boolean(), key: fc.oneof(fc.constant("fresh"), cacheKey.filter((k) => !isRedisKey(k))), loader: loaderSpec, sizeOf: sizeOfBehaviour }, OWN),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const), handle: fc.boolean(), options: invalidateOptions }, OWN) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("missing" as const), method: fc.constantFrom("get" as const, "set" as const, "delete" as const, "getOrLoad" as const, "clear" as const), arg: fc.constantFrom(null, undefined) }, OWN) },
);

let channels = 0;
/**
 * A cache of its own, on a channel of its own (files share one Redis, and peers
 * on a shared channel would flush this one's local tier), with its own
 * subscriber connection. A manual clock: no local expiry during a run.
 */
async function startCache(sizeOf: (v: unknown, k: string) => number): Promise<{ cache: RedisTenantCache<unknown>; stop(): Promise<void> }> {
  const subscriber = redis.duplicate();
  subscriber.on("error", () => undefined);
  const cache = new RedisTenantCache<unknown>({
    client: redis,
    subscriber,
    channel: `tk:test:hostile:${process.pid}:${channels++}`,
    maxBytes: 1 << 16,
    maxKeyLength: MAX_KEY,
    maxEntryBytes: MAX_ENTRY,
    clock: new ManualClock(),
    sizeOf,
    timeoutMs: 5_000,
    heartbeatMs: 60_000,
  });
  (await cache.start())._unsafeUnwrap();
  return {
    cache,
    stop: async () => {
      await cache.close();
      subscriber.disconnect();
    },
  };
}

describe("RedisTenantCache (real Redis)", () => {
  it("hostile keys, unserialisable values, sizeOf results, loaders and options: Err exactly for bad input; an Err writes no Redis key and changes no local stat", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cacheOp, { minLength: 1, maxLength: 8 }), async (ops) => {
        let sizeOf: (v: unknown, k: string) => unknown = estimateSize;
        const ws = randomUUID();
        const { cache, stop } = await startCache((v, k) => sizeOf(v, k) as number);
        try {
          (await cache.set({ workspaceId: ws, key: "seed", value: "seeded" }))._unsafeUnwrap();
          const handle = cache.workspace(ws)._unsafeUnwrap();
          const stats = () => JSON.stringify(cache.local.stats());
          const held = () => {
            const { bytes, entries, workspaces } = cache.local.stats();
            return JSON.stringify([bytes, entries, workspaces.filter((w) => w.entries > 0 || w.bytes > 0).map((w) => [w.workspaceId, w.bytes, w.entries])]);
          };
          const stored = () => redisState(redis, `${redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache")}*`);
          expect(await stored(), "the snapshot holds the seeded entry").toContain(":seed");
          let freshKeys = 0;
          for (const op of ops) {
            let loaded = false;
            const beforeStored = await stored();
            // Read after the await: an idle partition may be reclaimed by its timer during one.
            const beforeStats = stats();
            const beforeHeld = held();
            const what = `${"handle" in op && op.handle ? "handle." : ""}${op.op}(${str(op)})`;
            let result: Result<unknown, unknown>;
            let bad: boolean;
            switch (op.op) {
              case "set": {
                sizeOf = op.sizeOf;
                bad = !isRedisKey(op.key) || !entryFits(op.value, op.key, op.sizeOf) || !encodable(op.value);
                const { key, value, options } = op;
                result = await noThrow(what, () =>
                  op.handle ? handle.set(key as never, value, options as never) : cache.set({ ...(options as object), workspaceId: ws, key: key as never, value }),
                );
                break;
              }
              case "get": {
                bad = !isRedisKey(op.key);
                const key = op.key as never;
                result = await noThrow(what, () => (op.handle ? handle.get(key) : cache.get({ workspaceId: ws, key })));
                break;
              }
              case "delete": {
                bad = !isRedisKey(op.key);
                const { options } = op;
                const key = op.key as never;
                result = await noThrow(what, () => (op.handle ? handle.delete(key, options as never) : cache.delete({ ...(options as object), workspaceId: ws, key })));
                break;
              }
              case "getOrLoad": {
                sizeOf = op.sizeOf;
                const key = op.key === "fresh" ? `fresh-${freshKeys++}` : op.key;
                const { loader, value } = op.loader;
                bad =
                  !isRedisKey(key) || op.loader.fails || isProxy(value) ||
                  (value !== undefined && (!entryFits(value, key, op.sizeOf) || !encodable(value)));
                loaded = isRedisKey(key);
                result = await noThrow(what, () => (op.handle ? handle.getOrLoad(key as never, loader as never) : cache.getOrLoad({ workspaceId: ws, key: key as never }, loader as never)));
                break;
              }
              case "clear": {
                bad = false;
                const { options } = op;
                result = await noThrow(what, () => (op.handle ? handle.clear(options as never) : cache.clear({ ...(options as object), workspaceId: ws })));
                break;
              }
              case "missing": {
                // A missing argument object: there is no workspace id to read.
                bad = true;
                const { method, arg } = op;
                result = await noThrow(what, () => (method === "getOrLoad" ? cache.getOrLoad(arg as never, () => 1) : cache[method](arg as never)));
                expectTypedErr(result, what, ["InvalidWorkspaceId"]);
              }
            }
            expectErrIff(result, bad, what);
            if (result.isErr()) {
              expect(await stored(), `${what} must write nothing to Redis`).toBe(beforeStored);
              if (loaded) expect(held(), `${what} must cache nothing`).toBe(beforeHeld);
              else expect(stats(), `${what} must change no local stat`).toBe(beforeStats);
            }
          }
        } finally {
          await stop();
        }
      }),
      { numRuns: 80 },
    );
  });

  /** What a cache entry's bytes read as, per the stored format (codec.ts): "n", or "v" and JSON. */
  function expectedRead(bytes: Buffer): { ok: true; value: unknown } | { ok: false } {
    const text = bytes.toString("utf8"); // what ioredis hands back for a bulk string
    if (text === "n") return { ok: true, value: undefined };
    if (!text.startsWith("v")) return { ok: false };
    try {
      return { ok: true, value: JSON.parse(text.slice(1)) };
    } catch {
      return { ok: false };
    }
  }

  type Corruption =
    | { where: "entry"; bytes: Uint8Array }
    | { where: "entry" | "gen" | "version"; type: "list" | "hash" | "set" | "zset" | "stream" }
    | { where: "gen" | "version"; text: string };
  const asBytes = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
  const corruption: fc.Arbitrary<Corruption> = fc.oneof(
    fc.record({ where: fc.constant("entry" as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ where: fc.constant("entry" as const), bytes: fc.uint8Array({ maxLength: 20 }).map((b) => Uint8Array.from([0x76, ...b])) }),
    fc.record({ where: fc.constant("entry" as const), bytes: fc.string({ unit: "binary", maxLength: 20 }).map((s) => asBytes(`v${s}`)) }),
    fc.record({ where: fc.constant("entry" as const), bytes: fc.jsonValue({ maxDepth: 2 }).map((j) => asBytes(`v${JSON.stringify(j)}`)) }),
    fc.record({
      where: fc.constant("entry" as const),
      bytes: fc.constantFrom("", "n", "v", "nv", "V1", "v{", 'v"\\ud800"', "v1e400", "v[1,", `v${"[".repeat(20_000)}${"]".repeat(20_000)}`, `v"${"x".repeat(100_000)}"`).map(asBytes),
    }),
    fc.record({ where: fc.constantFrom("entry" as const, "gen" as const, "version" as const), type: fc.constantFrom("list" as const, "hash" as const, "set" as const, "zset" as const, "stream" as const) }),
    fc.record({ where: fc.constantFrom("gen" as const, "version" as const), text: fc.constantFrom("abc", "", "-1", "1.5", "9223372036854775807", "99999999999999999999", " 1", "0x1", "\u0000") }),
  );

  it("corrupt bytes or wrong key types in Redis under the cache's keys: reads are the decoded value, a miss or a typed Err, never a throw; a refused write writes nothing", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      await fc.assert(
        fc.asyncProperty(corruption, fc.oneof(fc.constantFrom("k", "é", "a:b"), fc.string({ minLength: 1, maxLength: 10, unit: "grapheme" })), fc.boolean(), async (c, key, viaHandle) => {
          const ws = parseWorkspaceId(randomUUID())._unsafeUnwrap();
          const prefix = redisKeyPrefix(ws, "cache");
          (await cache.set({ workspaceId: ws, key, value: "original" }))._unsafeUnwrap();
          // The entry key as the scripts built it (found on the server, not recomputed here).
          const entryKeys = JSON.parse(await redisState(redis, `${prefix}e:*`)) as [string, string][];
          expect(entryKeys).toHaveLength(1);
          const target = c.where === "entry" ? entryKeys[0]![0] : c.where === "gen" ? `${prefix}gen` : (JSON.parse(await redisState(redis, `${prefix}v:*`)) as [string][])[0]![0];
          await redis.del(target);
          if ("bytes" in c) await redis.set(target, Buffer.from(c.bytes));
          else if ("text" in c) await redis.set(target, c.text);
          else if (c.type === "list") await redis.rpush(target, "v1");
          else if (c.type === "hash") await redis.hset(target, "v", "1");
          else if (c.type === "set") await redis.sadd(target, "v1");
          else if (c.type === "zset") await redis.zadd(target, 1, "v1");
          else await redis.xadd(target, "*", "v", "1");
          cache.local.clear({ workspaceId: ws }); // the next read goes to Redis
          const handle = cache.workspace(ws)._unsafeUnwrap();
          const what = (call: string) => `${call} after ${str(c)} under ${target}`;

          const read = await noThrow(what("get"), () => (viaHandle ? handle.get(key) : cache.get({ workspaceId: ws, key })));
          if (read.isErr()) expectTypedErr(read, what("get"), ["SerializationFailed", "StoreFailed", "EntryTooLarge", "InvalidSize"]);
          if (c.where === "entry" && "bytes" in c) {
            const expected = expectedRead(Buffer.from(c.bytes));
            if (expected.ok) {
              // A value that decodes is served (unless it is too large for the local tier).
              if (read.isOk()) expect(read.value, what("get")).toEqual(expected.value);
              else expectTypedErr(read, what("get"), ["EntryTooLarge", "InvalidSize"]);
            } else expectTypedErr(read, what("get"), ["SerializationFailed"]);
          }
          let loads = 0;
          cache.local.clear({ workspaceId: ws });
          const loadedResult = await noThrow(what("getOrLoad"), () => cache.getOrLoad({ workspaceId: ws, key }, () => (loads++, "loaded")));
          if (loadedResult.isErr()) expectTypedErr(loadedResult, what("getOrLoad"), ["SerializationFailed", "StoreFailed", "EntryTooLarge", "InvalidSize"]);
          if (read.isErr() && read.error !== null && (read.error as { type: string }).type === "SerializationFailed") {
            expect(loads, `${what("getOrLoad")}: a corrupt entry is reported, not papered over by the loader`).toBe(0);
          }

          const beforeWrite = await redisState(redis, `${prefix}*`);
          const written = await noThrow(what("set"), () => (viaHandle ? handle.set(key, "new") : cache.set({ workspaceId: ws, key, value: "new" })));
          if (written.isErr()) {
            expectTypedErr(written, what("set"), ["StoreFailed"]);
            expect(await redisState(redis, `${prefix}*`), `${what("set")} was refused: it must write nothing`).toBe(beforeWrite);
          } else {
            cache.local.clear({ workspaceId: ws });
            const again = await cache.get({ workspaceId: ws, key });
            // A gen or version key that is no counter may still take the write; the value reads back.
            expect(again.isOk() && again.value === "new", `${what("get after set")}: ${str(again)}`).toBe(true);
          }
          for (const [call, run] of [
            ["delete", () => (viaHandle ? handle.delete(key) : cache.delete({ workspaceId: ws, key }))],
            ["clear", () => (viaHandle ? handle.clear() : cache.clear({ workspaceId: ws }))],
          ] as const) {
            const r = (await noThrow(what(call), run)) as Result<unknown, unknown>;
            if (r.isErr()) expectTypedErr(r, what(call), ["StoreFailed"]);
          }
        }),
        { numRuns: 80 },
      );
    } finally {
      await stop();
    }
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, wrote or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("cache: keys with a lone surrogate are InvalidKey (two such keys were one Redis key: one read the other's value)", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      const ws = randomUUID();
      const prefix = redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache");
      const before = await redisState(redis, `${prefix}*`);
      const set = await noThrow("set", () => cache.set({ workspaceId: ws, key: "\uD800", value: "written under \\uD800" }));
      expectTypedErr(set, "set", ["InvalidKey"]);
      expect(await redisState(redis, `${prefix}*`)).toBe(before);
      cache.local.clear({ workspaceId: ws });
      for (const key of ["\uDC00", "a\uDBFFb", "\uDFFF\uD800"]) {
        expectTypedErr(await noThrow("get", () => cache.get({ workspaceId: ws, key })), `get ${JSON.stringify(key)}`, ["InvalidKey"]);
        expectTypedErr(await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key }, () => 1)), "getOrLoad", ["InvalidKey"]);
        expectTypedErr(await noThrow("delete", () => cache.delete({ workspaceId: ws, key })), "delete", ["InvalidKey"]);
      }
      // A well-formed pair (an astral character) is an ordinary key.
      expect((await cache.set({ workspaceId: ws, key: "\u{1F600}", value: 1 })).isOk()).toBe(true);
    } finally {
      await stop();
    }
  });

  it("cache: getOrLoad without a loader function is LoaderFailed, as on the local tier (it answered Ok, a plain read's miss)", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      const ws = randomUUID();
      const handle = cache.workspace(ws)._unsafeUnwrap();
      for (const loader of [undefined, null, 1, "loader"]) {
        expectTypedErr(await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key: "fresh" }, loader as never)), "getOrLoad", ["LoaderFailed"]);
        expectTypedErr(await noThrow("handle.getOrLoad", () => handle.getOrLoad("fresh", loader as never)), "handle.getOrLoad", ["LoaderFailed"]);
      }
    } finally {
      await stop();
    }
  });

  it("cache: an acknowledged option that is not a boolean is InvalidInput and changes nothing (it was read as true)", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      const ws = randomUUID();
      const prefix = redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache");
      expect((await cache.set({ workspaceId: ws, key: "k", value: 1 })).isOk()).toBe(true);
      const before = await redisState(redis, `${prefix}*`);
      for (const acknowledged of ["false", 0, 1, {}]) {
        const options = { acknowledged } as never;
        expectTypedErr(await noThrow("set", () => cache.set({ workspaceId: ws, key: "k", value: 2, ...(options as object) })), "set", ["InvalidInput"]);
        expectTypedErr(await noThrow("delete", () => cache.delete({ workspaceId: ws, key: "k", ...(options as object) })), "delete", ["InvalidInput"]);
        expectTypedErr(await noThrow("clear", () => cache.clear({ workspaceId: ws, ...(options as object) })), "clear", ["InvalidInput"]);
      }
      expect(await redisState(redis, `${prefix}*`)).toBe(before);
      expect((await cache.get({ workspaceId: ws, key: "k" }))._unsafeUnwrap()).toBe(1);
    } finally {
      await stop();
    }
  });

  it("cache: a missing argument object is InvalidWorkspaceId and null options are absent ones (they threw or rejected)", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      for (const arg of [null, undefined]) {
        for (const [what, call] of [
          ["get", () => cache.get(arg as never)],
          ["set", () => cache.set(arg as never)],
          ["delete", () => cache.delete(arg as never)],
          ["getOrLoad", () => cache.getOrLoad(arg as never, () => 1)],
          ["clear", () => cache.clear(arg as never)],
        ] as [string, () => Promise<Result<unknown, unknown>>][]) {
          expectTypedErr(await noThrow(`${what}(${String(arg)})`, call), what, ["InvalidWorkspaceId"]);
        }
      }
      const ws = randomUUID();
      const handle = cache.workspace(ws)._unsafeUnwrap();
      expect((await noThrow("handle.set", () => handle.set("k", 1, null as never))).isOk()).toBe(true);
      expect((await noThrow("handle.delete", () => handle.delete("k", null as never))).isOk()).toBe(true);
      expect((await noThrow("handle.clear", () => handle.clear(null as never))).isOk()).toBe(true);
    } finally {
      await stop();
    }
  });

  it("cache: a loaded value the local tier refuses (EntryTooLarge, a throwing sizeOf) is not filled into Redis either", async () => {
    let sizeOf: (v: unknown, k: string) => number = estimateSize;
    const { cache, stop } = await startCache((v, k) => sizeOf(v, k));
    try {
      const ws = randomUUID();
      const prefix = redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache");
      const before = await redisState(redis, `${prefix}*`);
      const big = await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key: "big" }, () => "x".repeat(MAX_ENTRY)));
      expectTypedErr(big, "getOrLoad big", ["EntryTooLarge"]);
      sizeOf = () => {
        throw new Error("sizeOf");
      };
      expectTypedErr(await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key: "odd" }, () => 0)), "getOrLoad odd", ["InvalidSize"]);
      expect(await redisState(redis, `${prefix}*`), "nothing reached Redis").toBe(before);
    } finally {
      await stop();
    }
  });
});
