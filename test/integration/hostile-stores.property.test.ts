import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { Result } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuditLogger } from "../../src/audit/index.js";
import { migrateAuditTables, postgresAuditStore } from "../../src/audit/postgres.js";
import { estimateSize } from "../../src/cache/index.js";
import { RedisTenantCache } from "../../src/cache/redis.js";
import { ManualClock, seededRandom } from "../../src/core/index.js";
import { redisKeyPrefix } from "../../src/core/redis/keys.js";
import { parseWorkspaceId } from "../../src/core/workspace-id.js";
import { TenantCipher, toText } from "../../src/crypto/index.js";
import { migrateKeyStore, postgresKeyStore } from "../../src/crypto/postgres.js";
import { QuotaGuard } from "../../src/quota/index.js";
import { PostgresQuotaStore } from "../../src/quota/stores/postgres.js";
import { RedisQuotaStore } from "../../src/quota/stores/redis.js";
import { createTestDatabase } from "../support/postgres-server.js";
import { redisClient, whenReady } from "../support/redis-clients.js";
import {
  badId,
  cyclic,
  expectErrIff,
  expectTypedErr,
  fresh,
  hostile,
  hugeString,
  idLike,
  isProxy,
  isValidId,
  nonString,
  nonStringDefined,
  noThrow,
  PLAN,
  ROOT_KEYS,
  SHOWN_AS,
  str,
  throwingProxy,
  W2,
} from "../unit/hostile/hostile-values.js";

/**
 * The project standard (test/unit/hostile/hostile-values.ts) for the variants
 * backed by real servers: bad input gets a typed Err with a clear message,
 * never an exception and never a partial write. Checked against the Redis 7 and
 * Postgres 15 the integration project starts (global-setup.ts); nothing is
 * mocked. Every run works in a fresh workspace, so "nothing written" is read
 * straight from the server: the workspace's Redis keys (DUMP) or its rows.
 *
 * Containers the library must read (requests, entries, options) get bad shapes
 * but no throwing reads, as in the unit suite; leaf values may be anything.
 */

const servers = inject("servers");
const redis = redisClient();
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_hostile");
  pool = new pg.Pool({ connectionString: database.url, max: 6 });
  pool.on("error", () => undefined);
  await whenReady(redis);
  (await new PostgresQuotaStore({ db: pool }).migrate())._unsafeUnwrap();
  (await migrateAuditTables(pool))._unsafeUnwrap();
  (await migrateKeyStore(pool))._unsafeUnwrap();
});
afterAll(async () => {
  redis.disconnect();
  await pool.end();
  await database.drop();
});

/** Every key matching `pattern` with its DUMP (hex), sorted: the server's own view of what is stored. */
async function redisState(pattern: string): Promise<string> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  keys.sort();
  const dumps = await Promise.all(keys.map(async (k) => [k, (await redis.dumpBuffer(k))?.toString("hex") ?? null]));
  return JSON.stringify(dumps);
}

const isWellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
/** A string Postgres text (and UTF-8, and so Redis) stores exactly as given. */
const storable = (s: string): boolean => isWellFormed(s) && !s.includes("\u0000");

/** Strings a text column or a UTF-8 key cannot hold faithfully. */
const unstorable = fc.constantFrom("a\u0000b", "\u0000", "a\uD800b", "\uDC00", "x\uDBFF", "\uDFFF\uD800");

// ================================================================= quota

type LimitName = keyof typeof PLAN;
const LIMIT_NAMES = Object.keys(PLAN) as LimitName[];
const MAX_COST: Record<LimitName, number> = { calls: 1_000, burst: 10, window: 50, items: 20, slots: 3 };
const hostileNoProxy = hostile.filter((v) => !isProxy(v));
const isLimitName = (x: unknown): x is LimitName => typeof x === "string" && Object.hasOwn(PLAN, x);
const isCost = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 1;

type DecideMode = "consume" | "check" | "reserve" | "acquire";

/** Bad input per docs/quota.md (the same model as the unit suite's). */
function badEntries(mode: DecideMode | "commit" | "release", entries: readonly unknown[]): boolean {
  const seen = new Set<string>();
  for (const entry of entries) {
    const { limit, cost } = (entry ?? {}) as { limit?: unknown; cost?: unknown };
    if (!isLimitName(limit) || seen.has(limit)) return true;
    seen.add(limit);
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
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "", "calls ", "CALLS", "calls\u0000", "calls/x", "items:holds", "state", "x#g") },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 70 }), unstorable) },
  { weight: 2, arbitrary: hostile },
);
const cost = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 1_200 }) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 1e-300, 2 ** 53, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom("1", " 1", "1e3", "0x2") },
  { weight: 1, arbitrary: fc.bigInt({ min: -2n, max: 3n }) },
  { weight: 2, arbitrary: hostile },
);
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
/** Reservation ids a forger might try: the server sees them as strings (a hash field, a sorted-set member). */
const forgedId = fc.oneof(
  idLike,
  unstorable,
  fc.constantFrom("", " ", "h:", "*", "\r\n", "x".repeat(70_000)),
  fc.string({ unit: "binary", maxLength: 20 }),
);

type QuotaOp =
  | { op: "decide"; mode: DecideMode; handle: boolean; request: { limit?: unknown; cost?: unknown; limits?: unknown } }
  | { op: "settle"; mode: "commit" | "release"; change: { field: "id" | "workspaceId" | "items" | "whole"; value: unknown } | undefined }
  | { op: "reconcile"; limit: unknown; actual: unknown }
  | { op: "corrupt"; limit: LimitName; state: string };

const quotaOp: fc.Arbitrary<QuotaOp> = fc.oneof(
  {
    // Valid calls over several limits (one transaction or script over several keys, some not stored yet).
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("decide" as const),
      mode: fc.constantFrom<DecideMode>("consume", "check", "reserve"),
      handle: fc.constant(false),
      request: fc.shuffledSubarray(LIMIT_NAMES, { minLength: 2 }).map((names) => ({ limits: names.map((limit) => ({ limit })) })),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant("decide" as const), mode: fc.constantFrom<DecideMode>("consume", "check", "reserve", "acquire"), handle: fc.boolean(), request: decideRequest }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      mode: fc.constantFrom("commit" as const, "release" as const),
      change: fc.option(
        fc.oneof(
          fc.record({ field: fc.constant("id" as const), value: fc.oneof(forgedId, hostile) }),
          fc.record({ field: fc.constant("workspaceId" as const), value: fc.oneof(hostile, idLike) }),
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
      actual: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(-1, 0.5, NaN, Infinity, 2 ** 53, 2 ** 47, Number.MAX_SAFE_INTEGER, "3"), hostile),
    }),
  },
);

/** Stored state the Postgres store must refuse (not numbers where numbers belong), whatever the limit's kind. */
const corruptState = fc.constantFrom('"garbage"', "[]", "42", "true", '{"tat":"1","end":"x","used":"lots","holds":{}}', '{"used":1,"holds":[[1,2,3]]}', '{"tat":null,"used":null}', '{"window":1,"size":"x"}');
const corruptOp: fc.Arbitrary<QuotaOp> = fc.record({ op: fc.constant("corrupt" as const), limit: fc.constantFrom(...LIMIT_NAMES), state: corruptState });

interface QuotaHarness {
  readonly guard: QuotaGuard;
  /** The store's state for the run's workspace, read from the server. */
  snapshot(): Promise<string>;
  /** Writes stored state the store must refuse (Postgres only). */
  corrupt?(limit: LimitName, state: string): Promise<void>;
}

/**
 * One run: a workspace with some usage and a live reservation, then hostile
 * calls. Each is an Err exactly when its input is bad, and an Err leaves the
 * server's state exactly as it was. `corrupted` (Postgres): a valid call that
 * reads corrupt state may be a StoreFailed Err, which must write nothing either.
 */
async function runQuotaOps(ws: string, h: QuotaHarness, ops: readonly QuotaOp[]): Promise<void> {
  const { guard } = h;
  (await guard.consume({ workspaceId: ws, limit: "calls", cost: 3 }))._unsafeUnwrap();
  const reserved = (await guard.reserve({ workspaceId: ws, limits: [{ limit: "items", cost: 2 }, { limit: "slots" }] }))._unsafeUnwrap().reservation!;
  const handle = guard.workspace(ws)._unsafeUnwrap();
  // The snapshot sees the run's own state (so "unchanged" is about something).
  expect(await h.snapshot(), "the snapshot holds the usage just written").toMatch(/calls|state/);
  let corrupted = false;
  for (const op of ops) {
    if (op.op === "corrupt") {
      await h.corrupt!(op.limit, op.state);
      corrupted = true;
      continue;
    }
    const before = await h.snapshot();
    let result: Result<unknown, unknown>;
    let bad: boolean;
    let what: string;
    if (op.op === "decide") {
      what = `${op.handle ? "handle." : ""}${op.mode}(${str(op.request)})`;
      bad = badDecide(op.mode, op.request);
      const request = op.request as never;
      if (op.handle && op.mode !== "acquire") result = await noThrow(what, () => handle[op.mode as "consume"](request));
      else result = await noThrow(what, () => guard[op.mode]({ ...(request as object), workspaceId: ws } as never));
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
      result = await noThrow(what, () => guard.reconcile({ workspaceId: ws, limit: limit as never, actual: actual as never }));
    }
    if (!bad && corrupted && result.isErr()) expectTypedErr(result, `${what} (after stored state was corrupted)`, ["StoreFailed"]);
    else expectErrIff(result, bad, what);
    if (bad) expect((result as Result<unknown, { type: string }>)._unsafeUnwrapErr().type, `${what}: refused before the store`).not.toMatch(/^Store/);
    if (result.isErr()) expect(await h.snapshot(), `${what} must write nothing`).toBe(before);
  }
}

describe("QuotaGuard on RedisQuotaStore (real Redis)", () => {
  it("hostile costs, names, reservations and reconcile values: Err exactly for bad input; an Err leaves every key of the family as it was (DUMP)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(quotaOp, { minLength: 1, maxLength: 8 }), async (ops) => {
        const ws = randomUUID();
        // A generous timeout: a slow CI machine must not turn a decision into a fail-open one.
        const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new RedisQuotaStore({ client: redis, timeoutMs: 5_000 }) });
        await runQuotaOps(ws, { guard, snapshot: () => redisState(`tk:{${ws}}:*`) }, ops);
        await guard.close();
      }),
      { numRuns: 100 },
    );
  });
});

describe("QuotaGuard on PostgresQuotaStore (real Postgres)", () => {
  const store = () => new PostgresQuotaStore({ db: pool });
  const rows = async (ws: string) =>
    JSON.stringify((await pool.query("select workspace_id, limit_name, state from tenancy_quota_state where root_workspace_id = $1 order by 1, 2", [ws])).rows);

  it("hostile costs, names, reservations, reconcile values and corrupt stored state: Err exactly for bad input, no SQL error; an Err writes no row", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 6, arbitrary: quotaOp }, { weight: 1, arbitrary: corruptOp }), { minLength: 1, maxLength: 8 }), async (ops) => {
        const ws = randomUUID();
        const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: store() });
        await runQuotaOps(
          ws,
          {
            guard,
            snapshot: () => rows(ws),
            corrupt: async (limit, state) => {
              await pool.query(
                `insert into tenancy_quota_state (root_workspace_id, workspace_id, limit_name, state) values ($1, $1, $2, $3::jsonb)
                 on conflict (root_workspace_id, workspace_id, limit_name) do update set state = excluded.state`,
                [ws, limit, state],
              );
            },
          },
          ops,
        );
        await guard.close();
      }),
      { numRuns: 60 },
    );
  });
});

// ================================================================= cache

const MAX_KEY = 64;
const MAX_ENTRY = 4_096;

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

const sizeOfBehaviour: fc.Arbitrary<(value: unknown, key: string) => unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(estimateSize) },
  // A size function that never serialises, so values JSON cannot encode reach the codec.
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3_000 }).map((n) => () => n) },
  { weight: 1, arbitrary: hostile.map((v) => () => v) },
  { weight: 1, arbitrary: hostile.map((v) => () => { throw v; }) },
);
const cacheKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "", "__proto__", ":1:a", "e:0:0:1:a", "{x}", "*", "a b\r\n") },
  { weight: 2, arbitrary: fc.string({ maxLength: MAX_KEY }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20, unit: "grapheme" }) },
  { weight: 2, arbitrary: unstorable },
  { weight: 1, arbitrary: fc.string({ minLength: MAX_KEY + 1, maxLength: 200 }) },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: nonString },
);
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

type LoaderSpec = { fails: boolean; value: unknown; loader: unknown };
const loaderSpec: fc.Arbitrary<LoaderSpec> = fc.oneof(
  cacheValue.map((value) => ({ fails: false, value, loader: () => value })),
  cacheValue.map((value) => ({ fails: false, value, loader: async () => value })),
  hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => { throw thrown; } })),
  hostile.map((thrown) => ({ fails: true, value: undefined, loader: () => Promise.reject(thrown) })),
  hostile.filter((v) => typeof v !== "function").map((loader) => ({ fails: true, value: undefined, loader })),
);

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
          const stored = () => redisState(`${redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache")}*`);
          expect(await stored(), "the snapshot holds the seeded entry").toContain(":seed");
          let freshKeys = 0;
          for (const op of ops) {
            let loaded = false;
            const beforeStats = stats();
            const beforeHeld = held();
            const beforeStored = await stored();
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
          const entryKeys = JSON.parse(await redisState(`${prefix}e:*`)) as [string, string][];
          expect(entryKeys).toHaveLength(1);
          const target = c.where === "entry" ? entryKeys[0]![0] : c.where === "gen" ? `${prefix}gen` : (JSON.parse(await redisState(`${prefix}v:*`)) as [string][])[0]![0];
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

          const beforeWrite = await redisState(`${prefix}*`);
          const written = await noThrow(what("set"), () => (viaHandle ? handle.set(key, "new") : cache.set({ workspaceId: ws, key, value: "new" })));
          if (written.isErr()) {
            expectTypedErr(written, what("set"), ["StoreFailed"]);
            expect(await redisState(`${prefix}*`), `${what("set")} was refused: it must write nothing`).toBe(beforeWrite);
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

// ================================================================= audit

const tagged = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown>, badWeight = 1) =>
  fc.oneof({ weight: 9, arbitrary: good.map((v) => ({ v: v as unknown, bad: false })) }, { weight: badWeight, arbitrary: bad.map((v) => ({ v, bad: true })) });

/** Text Postgres stores as given: any Unicode but U+0000 and lone surrogates. */
const pgText = fc.oneof(
  fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" }),
  fc.string({ minLength: 1, maxLength: 24, unit: "binary" }).filter(storable),
  fc.constantFrom("'; drop table audit_entry; --", "\\x00", "%s%n", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u200b", "\uFEFF", "e\u0301"),
).filter((s) => storable(s) && s.length > 0 && s.length <= 512);
const badText = fc.oneof(fc.constantFrom("", "x".repeat(513)), unstorable, nonStringDefined);
function throwingGetter(): object {
  const o = Object.defineProperty({}, "a", { enumerable: true, get: () => { throw new Error("getter"); } });
  return Object.defineProperty(o, SHOWN_AS, { value: () => "throwingGetter()" });
}
const badJsonObject = fc.oneof(
  fresh(cyclic),
  fc.bigInt().map((n) => ({ n })),
  fc.constant({ f: () => 1 }),
  fc.constant({ toJSON: () => { throw new Error("toJSON"); } }),
  fc.constant({ u: undefined }),
  fc.constantFrom(NaN, Infinity).map((n) => ({ n })),
  fc.constant({ d: new Date(0) }),
  fresh(throwingGetter),
  fresh(throwingProxy),
  fresh(() => ({ big: "x".repeat(17_000) })),
  fc.constantFrom({ s: "a\uDC00" }, { "\uD800": 1 }, { k: ["\uDBFF"] }),
  fc.constantFrom(null, "text", 5, [1, 2]),
);
/** Metadata lives only in the text body, where JSON escapes U+0000: any well-formed JSON is fine. */
const goodMetadata = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 8, unit: "grapheme" }), fc.jsonValue({ maxDepth: 2, stringUnit: "grapheme" }), { maxKeys: 4 }),
  fc.constantFrom({ nul: "a\u0000b" }, { "\u0000": 1 }, { sql: "'); --" }, { deep: { a: [{ b: "\u{1F600}" }] } }),
);

const auditEvent = fc.record({
  workspaceId: tagged(fc.constant("run"), badId),
  actor: tagged(
    fc.record({ type: pgText, id: fc.oneof(fc.constantFrom("m1", "m2"), pgText), display: pgText }, { requiredKeys: ["type", "id"] }),
    fc.oneof(
      fc.constantFrom(null, undefined, "member", 5, [], {}),
      fc.record({ type: badText, id: pgText }),
      fc.record({ type: pgText, id: badText }),
      fc.record({ type: pgText, id: pgText, display: badText }),
    ),
  ),
  action: tagged(
    fc.stringMatching(/^[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){1,3}$/),
    fc.oneof(fc.constantFrom("", "journey", "Journey.updated", "journey.updated\u0000", "journey.updated\n", `a.${"b".repeat(130)}`), nonString),
  ),
  targets: tagged(
    fc.option(fc.array(fc.record({ type: pgText, id: pgText }), { maxLength: 3 }), { nil: undefined }),
    fc.oneof(
      fc.constantFrom(null, "journey", { type: "journey", id: "j" }),
      fc.tuple(fc.record({ type: pgText, id: pgText }), fc.oneof(fc.record({ type: badText, id: pgText }), fc.record({ type: pgText, id: badText }))).map((t) => [...t]),
    ),
  ),
  outcome: tagged(
    fc.oneof(fc.constant(undefined), fc.constant({ status: "success" }), fc.record({ status: fc.constant("failure"), reason: pgText })),
    fc.oneof(fc.constantFrom(null, "success", {}), fc.record({ status: fc.constant("failure"), reason: badText })),
  ),
  context: tagged(
    fc.option(fc.record({ requestId: pgText, ip: pgText, userAgent: pgText }, { requiredKeys: [] }), { nil: undefined }),
    fc.oneof(fc.constantFrom(null, "ctx"), fc.record({ ip: badText }), fc.record({ requestId: badText }), fc.record({ userAgent: badText })),
  ),
  metadata: tagged(fc.option(goodMetadata, { nil: undefined }), badJsonObject, 2),
  personal: tagged(
    fc.option(fc.dictionary(fc.string({ maxLength: 8, unit: "grapheme" }), fc.oneof(pgText, fc.integer(), fc.boolean()), { maxKeys: 3 }), { nil: undefined }),
    fc.oneof(badJsonObject, fc.constantFrom({ email: "a\u0000b" }, { "\u0000": "x" }, { list: ["\u0000"] })),
  ),
  occurredAt: tagged(
    fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 0, max: 253_402_300_799_999 }),
      fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }),
      fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    fc.oneof(fc.constantFrom(NaN, -1, 253_402_300_800_000, 8.64e15, "garbage", "+275760-09-13T00:00:00.000Z", new Date(NaN)), nonStringDefined.filter((v) => typeof v !== "number" && !(v instanceof Date))),
  ),
  idempotencyKey: tagged(fc.constant("unique"), badText),
});

/** A filter value: a string (which may be one no entry can hold), or something that is no string. */
const filterText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("m1", "member", "journey.updated").map((v) => ({ v, bad: false })) },
  { weight: 2, arbitrary: pgText.map((v) => ({ v, bad: false })) },
  { weight: 2, arbitrary: unstorable.map((v) => ({ v, bad: true })) },
  { weight: 2, arbitrary: nonStringDefined.map((v) => ({ v, bad: true })) },
);
/** MIN/MAX of a JavaScript Date (ms); beyond them a number is no date. */
const DATE_LIMIT = 8.64e15;
const timeFilter = fc.oneof(
  { weight: 3, arbitrary: fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((v) => ({ v: v as unknown, bad: false })) },
  // Valid dates Postgres writes differently (years before 1 or after 9999), and the extremes.
  { weight: 2, arbitrary: fc.constantFrom(-62_198_755_200_000, -1e14, 253_402_300_800_000, 1e15, DATE_LIMIT, -DATE_LIMIT, -1, 0).map((v) => ({ v: v as unknown, bad: false })) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, DATE_LIMIT + 1, Number.MAX_SAFE_INTEGER, 1e20, -1e20, new Date(NaN), "2020-01-01").map((v) => ({ v: v as unknown, bad: true })) },
);
type Tag = { readonly v: unknown; readonly bad: boolean };
const queryFilters = fc.record(
  { actorType: filterText, actorId: filterText, action: filterText, targetType: filterText, targetId: filterText, since: timeFilter, until: timeFilter },
  { requiredKeys: [] },
);
const eraseMatch = fc.record({ seqs: fc.option(fc.oneof(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 3 }).map((v) => ({ v: v as unknown, bad: false })), fc.constantFrom([0], [1.5], ["1"], 5, [2 ** 53]).map((v) => ({ v: v as unknown, bad: true }))), { nil: undefined }), actorId: fc.option(filterText, { nil: undefined }) });

type AuditOp = { op: "append"; fields: Record<string, Tag> } | { op: "query"; filters: Partial<Record<string, Tag>> } | { op: "erase"; match: { seqs?: Tag | undefined; actorId?: Tag | undefined } };
const auditOp: fc.Arbitrary<AuditOp> = fc.oneof(
  { weight: 4, arbitrary: auditEvent.map((fields) => ({ op: "append" as const, fields })) },
  { weight: 2, arbitrary: queryFilters.map((filters) => ({ op: "query" as const, filters })) },
  { weight: 1, arbitrary: eraseMatch.map((match) => ({ op: "erase" as const, match })) },
);

describe("AuditLogger on PostgresAuditStore (real Postgres)", () => {
  let unique = 0;
  it("hostile events, filters and erase matches: Err exactly for bad input, never an SQL error; an Err writes no row; the chain verifies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(auditOp, { minLength: 1, maxLength: 6 }), async (ops) => {
        const ws = randomUUID();
        const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), random: seededRandom(7), batch: { lingerMs: 0 } });
        const rows = async () =>
          JSON.stringify(
            (
              await pool.query(
                `select (select count(*) from audit_entry where workspace_id = $1)::int as entries,
                        (select count(*) from audit_idempotency where workspace_id = $1)::int as keys,
                        (select coalesce(max(seq), 0) from audit_head where workspace_id = $1)::int as head,
                        (select coalesce(json_agg(personal order by seq), '[]') from audit_entry where workspace_id = $1) as personal`,
                [ws],
              )
            ).rows[0],
          );
        let appended = 0;
        try {
          (await audit.append({ workspaceId: ws, actor: { type: "member", id: "m1" }, action: "journey.updated", personal: { email: "a@b.c" } }))._unsafeUnwrap();
          appended++;
          expect(await rows(), "the snapshot holds the first entry").toContain('"entries":1');
          for (const op of ops) {
            const before = await rows();
            let result: Result<unknown, unknown>;
            let bad = false;
            let what: string;
            if (op.op === "append") {
              const event: Record<string, unknown> = {};
              for (const [name, { v, bad: isBad }] of Object.entries(op.fields)) {
                bad ||= isBad;
                event[name] = name === "workspaceId" && v === "run" ? ws : name === "idempotencyKey" && v === "unique" ? `key-${unique++}-é` : v;
              }
              what = `append(${str(event)})`;
              result = await noThrow(what, () => audit.append(event as never));
              if (result.isOk()) appended++;
            } else if (op.op === "query") {
              const f = op.filters;
              for (const tag of Object.values(f)) bad ||= tag!.bad;
              const query = {
                workspaceId: ws,
                ...(f.actorType || f.actorId ? { actor: { ...(f.actorType ? { type: f.actorType.v } : {}), ...(f.actorId ? { id: f.actorId.v } : {}) } } : {}),
                ...(f.action ? { action: f.action.v } : {}),
                ...(f.targetType || f.targetId ? { target: { type: f.targetType?.v ?? "journey", id: f.targetId?.v ?? "j" } } : {}),
                ...(f.since ? { since: f.since.v } : {}),
                ...(f.until ? { until: f.until.v } : {}),
              };
              what = `query(${str(query)})`;
              result = await noThrow(what, () => audit.query(query as never));
            } else {
              const { seqs, actorId } = op.match;
              bad = (seqs === undefined && actorId === undefined) || seqs?.bad === true || actorId?.bad === true;
              const match = { workspaceId: ws, ...(seqs ? { seqs: seqs.v } : {}), ...(actorId ? { actorId: actorId.v } : {}) };
              what = `erase(${str(match)})`;
              result = await noThrow(what, () => audit.erase(match as never));
            }
            expectErrIff(result, bad, what);
            if (result.isErr()) {
              expect((result.error as { type: string }).type, `${what}: bad input is refused before any SQL runs`).not.toMatch(/^Store/);
              expect(await rows(), `${what} must write nothing`).toBe(before);
            }
          }
          const report = (await audit.verify({ workspaceId: ws }))._unsafeUnwrap();
          expect(report.ok, "the chain verifies").toBe(true);
          expect(report.entries, "one entry per Ok append").toBe(appended);
        } finally {
          await audit.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

// ================================================================= crypto

describe("TenantCipher on the Postgres key store (real Postgres)", () => {
  type KeyRow = { version: number; wrapped_key: Buffer | null; root_key_id: string; state: string };
  const keyRows = async (ws: string) => (await pool.query<KeyRow>("select version::int as version, wrapped_key, root_key_id, state from tenancy_data_keys where workspace_id = $1 order by version", [ws])).rows;

  /** A change to a workspace's key rows made behind the store's back, and whether decrypting v1 data must then fail. */
  type Damage = { name: string; breaks: boolean; apply(ws: string, other: string): Promise<void> };
  const flipBit = (bit: number): Damage => ({
    name: `flip bit ${bit} of wrapped_key v1`,
    breaks: true,
    apply: async (ws) => {
      await pool.query("update tenancy_data_keys set wrapped_key = set_bit(wrapped_key, $2, 1 - get_bit(wrapped_key, $2)) where workspace_id = $1 and version = 1", [ws, bit]);
    },
  });
  const setWrapped = (name: string, bytes: Uint8Array, keep = false): Damage => ({
    name,
    breaks: !keep,
    apply: async (ws) => {
      await pool.query("update tenancy_data_keys set wrapped_key = $2 where workspace_id = $1 and version = 1", [ws, Buffer.from(bytes)]);
    },
  });
  const sql = (name: string, breaks: boolean, text: string, params: (ws: string, other: string) => unknown[] = (ws) => [ws]): Damage => ({
    name,
    breaks,
    apply: async (ws, other) => {
      await pool.query(text, params(ws, other));
    },
  });
  const damage: fc.Arbitrary<Damage> = fc.oneof(
    fc.nat({ max: 72 * 8 - 1 }).map(flipBit),
    fc.nat({ max: 71 }).map((n) => ({ name: `truncate wrapped_key v1 to ${n} bytes`, breaks: true, apply: async (ws: string) => void (await pool.query("update tenancy_data_keys set wrapped_key = substring(wrapped_key from 1 for $2) where workspace_id = $1 and version = 1", [ws, n])) })),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => ({ name: `append ${extra.length} bytes to wrapped_key v1`, breaks: true, apply: async (ws: string) => void (await pool.query("update tenancy_data_keys set wrapped_key = wrapped_key || $2 where workspace_id = $1 and version = 1", [ws, Buffer.from(extra)])) })),
    fc.uint8Array({ maxLength: 100 }).map((b) => setWrapped(`replace wrapped_key v1 with ${b.length} random bytes`, b)),
    fc.constant(setWrapped("replace wrapped_key v1 with 72 zero bytes", new Uint8Array(72))),
    fc.oneof(fc.constantFrom("", "k2", "K1", "k1 ", "\u00e9", "x".repeat(300)), fc.string({ maxLength: 10, unit: "grapheme" }).filter((s) => s !== "k1" && storable(s))).map((id) =>
      sql(`root_key_id := ${JSON.stringify(id.slice(0, 20))}`, true, "update tenancy_data_keys set root_key_id = $2 where workspace_id = $1 and version = 1", (ws) => [ws, id]),
    ),
    fc.constant(sql("move v1 to v2", true, "update tenancy_data_keys set version = 2 where workspace_id = $1 and version = 1")),
    fc.constant(sql("swap in another workspace's wrapped key", true, "update tenancy_data_keys set wrapped_key = (select wrapped_key from tenancy_data_keys where workspace_id = $2 and version = 1) where workspace_id = $1 and version = 1", (ws, other) => [ws, other])),
    fc.constant(sql("copy v1 as v2 (bound to v1)", true, "insert into tenancy_data_keys (workspace_id, version, wrapped_key, root_key_id, state) select workspace_id, 2, wrapped_key, root_key_id, 'active' from tenancy_data_keys where workspace_id = $1 and version = 1")),
    fc.constant(sql("delete every row", true, "delete from tenancy_data_keys where workspace_id = $1")),
    fc.constant(sql("destroyed without a tombstone", true, "update tenancy_data_keys set state = 'destroyed', wrapped_key = null where workspace_id = $1")),
    fc.constant(sql("a tombstone without destroyed rows", true, "insert into tenancy_key_tombstones (workspace_id, destroyed_at, destroyed_by, versions_destroyed) values ($1, now(), 'x', 0)")),
    fc.constant(sql("v1 retired, no active key", false, "update tenancy_data_keys set state = 'retired' where workspace_id = $1")),
    fc.constantFrom("infinity", "-infinity", "0001-01-01 00:00:00+00", "294276-12-31 23:59:59+00").map((t) =>
      sql(`created_at/updated_at := ${t}`, false, "update tenancy_data_keys set created_at = $2::timestamptz, updated_at = $2::timestamptz where workspace_id = $1", (ws) => [ws, t]),
    ),
  );

  it("corrupt key rows (flipped, truncated, swapped, relabelled wrapped keys): decrypt is a typed Err, never a throw; the untouched rows still decrypt", async () => {
    const other = randomUUID();
    const base = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) });
    (await base.encrypt({ workspaceId: other, purpose: "secret:x", plaintext: "other" }))._unsafeUnwrap();
    await fc.assert(
      fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 2 }), fc.boolean(), async (damages, asText) => {
        const ws = randomUUID();
        const writer = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) });
        const sealed = (await writer.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
        const applied: Damage[] = [];
        for (const d of damages) {
          // One damage can rule out the next (a key moved away, a constraint): that one is skipped.
          try {
            await d.apply(ws, other);
            applied.push(d);
          } catch {}
        }
        const what = `decrypt after ${applied.map((d) => d.name).join(", ")}`;
        // A new process: nothing cached, every key read from the damaged rows.
        const reader = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) });
        const opened = await noThrow(what, () =>
          asText ? reader.decryptText({ workspaceId: ws, purpose: "secret:x", ciphertext: toText(sealed) }) : reader.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed }),
        );
        const breaks = applied.some((d) => d.breaks);
        if (breaks) expectTypedErr(opened, what, ["KeyUnavailable", "KeyNotFound", "KeyDestroyed", "AuthFailed", "StoreFailed"]);
        else {
          expect(opened.isOk(), `${what}: ${str(opened.isErr() ? opened.error : "")}`).toBe(true);
          const plain = opened._unsafeUnwrap();
          expect(typeof plain === "string" ? plain : Buffer.from(plain).toString()).toBe("hello");
        }
        // Writing with damaged keys: a typed Err or a sealed value, never a throw.
        const rows = JSON.stringify(await keyRows(ws));
        const sealedAgain = await noThrow(`encrypt: ${what}`, () => reader.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "again" }));
        if (sealedAgain.isErr()) {
          expectTypedErr(sealedAgain, `encrypt: ${what}`, ["KeyUnavailable", "KeyNotFound", "KeyDestroyed", "StoreFailed"]);
          expect(JSON.stringify(await keyRows(ws)), `encrypt: ${what}: an Err writes no key row`).toBe(rows);
        }
        // Another workspace's keys are not affected.
        const fine = await new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) }).encrypt({ workspaceId: W2, purpose: "secret:x", plaintext: "x" });
        expect(fine.isOk(), `${what}: another workspace still encrypts`).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("destroy with hostile `by` values: Err (no SQL error) and no tombstone, or a tombstone that records exactly the given value", async () => {
    const by = fc.oneof(pgText, unstorable, fc.constantFrom("", "x".repeat(201), "x".repeat(200), "é".repeat(200), "'); drop table tenancy_key_tombstones; --"), hugeString, nonString);
    await fc.assert(
      fc.asyncProperty(by, async (b) => {
        const ws = randomUUID();
        const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) });
        const sealed = (await cipher.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
        const what = `destroy(${str(typeof b === "string" && b.length > 100 ? `${b.length} chars` : b)})`;
        const bad = typeof b !== "string" || b.length === 0 || b.length > 200 || !storable(b);
        const destroyed = await noThrow(what, () => cipher.destroy({ workspaceId: ws, by: b as never }));
        expectErrIff(destroyed, bad, what);
        const tombstones = (await pool.query<{ destroyed_by: string }>("select destroyed_by from tenancy_key_tombstones where workspace_id = $1", [ws])).rows;
        if (destroyed.isErr()) {
          expect((destroyed.error as { type: string }).type, `${what}: refused before any SQL runs`).toBe("InvalidInput");
          expect(tombstones, `${what}: no tombstone`).toHaveLength(0);
          expect((await cipher.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed })).isOk(), `${what}: keys intact`).toBe(true);
        } else expect(tombstones.map((t) => t.destroyed_by), `${what}: the tombstone says who`).toEqual([b]);
      }),
      { numRuns: 40 },
    );
  });
});


/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, wrote, reached an SQL error or answered Ok
 * before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("cache: keys with a lone surrogate are InvalidKey (two such keys were one Redis key: one read the other's value)", async () => {
    const { cache, stop } = await startCache(estimateSize);
    try {
      const ws = randomUUID();
      const prefix = redisKeyPrefix(parseWorkspaceId(ws)._unsafeUnwrap(), "cache");
      const before = await redisState(`${prefix}*`);
      const set = await noThrow("set", () => cache.set({ workspaceId: ws, key: "\uD800", value: "written under \\uD800" }));
      expectTypedErr(set, "set", ["InvalidKey"]);
      expect(await redisState(`${prefix}*`)).toBe(before);
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
      const before = await redisState(`${prefix}*`);
      const big = await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key: "big" }, () => "x".repeat(MAX_ENTRY)));
      expectTypedErr(big, "getOrLoad big", ["EntryTooLarge"]);
      sizeOf = () => {
        throw new Error("sizeOf");
      };
      expectTypedErr(await noThrow("getOrLoad", () => cache.getOrLoad({ workspaceId: ws, key: "odd" }, () => 0)), "getOrLoad odd", ["InvalidSize"]);
      expect(await redisState(`${prefix}*`), "nothing reached Redis").toBe(before);
    } finally {
      await stop();
    }
  });

  it("quota (postgres): a decision refused for corrupt state writes no row, not even for its limits not stored yet", async () => {
    const ws = randomUUID();
    const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new PostgresQuotaStore({ db: pool }) });
    (await guard.acquire({ workspaceId: ws, limit: "slots" }))._unsafeUnwrap();
    await pool.query(`update tenancy_quota_state set state = '"garbage"' where workspace_id = $1 and limit_name = 'slots'`, [ws]);
    const names = async () => (await pool.query<{ limit_name: string }>("select limit_name from tenancy_quota_state where workspace_id = $1 order by 1", [ws])).rows.map((r) => r.limit_name);
    expect(await names()).toEqual(["slots"]);
    for (const mode of ["check", "reserve"] as const) {
      const refused = await noThrow(mode, () => guard[mode]({ workspaceId: ws, limits: [{ limit: "slots" }, { limit: "burst" }, { limit: "items" }] }));
      expectTypedErr(refused, mode, ["StoreFailed"]);
      expect(await names(), `${mode}: no row for burst or items`).toEqual(["slots"]);
    }
  });

  it("quota (postgres): a check and a denied decision write no row (each inserted empty rows for its limits not stored yet)", async () => {
    const ws = randomUUID();
    const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new PostgresQuotaStore({ db: pool }) });
    const names = async () => (await pool.query<{ limit_name: string }>("select limit_name from tenancy_quota_state where workspace_id = $1 order by 1", [ws])).rows.map((r) => r.limit_name);
    const checked = await guard.check({ workspaceId: ws, limits: [{ limit: "items" }, { limit: "calls" }] });
    expect(checked.isOk() && checked.value.allowed, JSON.stringify(checked)).toBe(true);
    expect(await names(), "after a check").toEqual([]);
    const filled = await guard.reserve({ workspaceId: ws, limit: "items", cost: 20 });
    expect(filled.isOk() && filled.value.allowed, JSON.stringify(filled)).toBe(true);
    expect(await names(), "after an allowed reservation").toEqual(["items"]);
    // items is full: denied, and calls (not stored yet) must not get a row.
    const denied = await guard.reserve({ workspaceId: ws, limits: [{ limit: "calls" }, { limit: "items" }] });
    expect(denied.isOk() && !denied.value.allowed, JSON.stringify(denied)).toBe(true);
    expect(await names(), "after a denial").toEqual(["items"]);
  });

  it("audit (postgres): filters no entry can hold are InvalidInput, not an SQL error or a U+FFFD match", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "a\uFFFDb" }, action: "journey.updated", targets: [{ type: "j", id: "\uFFFD" }] }))._unsafeUnwrap();
      for (const query of [
        { actor: { id: "a\u0000b" } }, // was StoreFailed (SQLSTATE 22021)
        { actor: { type: "\u0000" } },
        { action: "journey.updated\u0000" },
        { target: { type: "j", id: "\u0000" } }, // was StoreFailed (SQLSTATE 22P05)
        { actor: { id: "a\uD800b" } }, // was Ok with the entry of actor "a\uFFFDb"
        { target: { type: "j", id: "\uDC00" } },
      ]) {
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, ...query } as never)), `query ${str(query)}`, ["InvalidInput"]);
      }
    } finally {
      await audit.close();
    }
  });

  it("audit (postgres): since/until beyond a Date's range are InvalidInput; valid dates Postgres cannot parse (years before 1, after 9999) filter correctly", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "m" }, action: "journey.updated", occurredAt: Date.UTC(2020, 0, 1) }))._unsafeUnwrap();
      for (const since of [Number.MAX_SAFE_INTEGER, 1e20, -1e20, 8.64e15 + 1]) {
        // was StoreFailed ("RangeError: Invalid time value" from toISOString)
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, since })), `since ${since}`, ["InvalidInput"]);
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, until: since })), `until ${since}`, ["InvalidInput"]);
      }
      // Each was StoreFailed (SQLSTATE 22007, 22008 or 22009: "-000001-01-01T…", "+010000-01-01T…").
      const count = async (filter: { since?: number; until?: number }) => (await noThrow("query", () => audit.query({ workspaceId: ws, ...filter })))._unsafeUnwrap().entries.length;
      expect(await count({ since: -62_198_755_200_000 })).toBe(1);
      expect(await count({ since: -8.64e15 })).toBe(1);
      expect(await count({ until: -62_135_596_800_001 })).toBe(0);
      expect(await count({ since: 253_402_300_800_000 })).toBe(0);
      expect(await count({ until: 8.64e15 })).toBe(1);
      expect(await count({ since: Date.UTC(2019, 0, 1), until: 1e15 })).toBe(1);
    } finally {
      await audit.close();
    }
  });

  it("audit (postgres): erase with an actorId that is no clean string is InvalidInput (5 erased actor \"5\"'s personal data)", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "5" }, action: "journey.updated", personal: { email: "x@y.z" } }))._unsafeUnwrap();
      for (const actorId of [5, ["5"], { toString: () => "5" }, "a\u0000b", "\uD800"]) {
        expectTypedErr(await noThrow("erase", () => audit.erase({ workspaceId: ws, actorId: actorId as never })), `erase ${str(actorId)}`, ["InvalidInput"]);
      }
      const personal = await pool.query("select personal from audit_entry where workspace_id = $1", [ws]);
      expect(personal.rows[0].personal, "personal data still there").not.toBeNull();
    } finally {
      await audit.close();
    }
  });

  it("crypto (postgres): destroy with a `by` holding U+0000 or a lone surrogate is InvalidInput and leaves the keys (was StoreFailed, or a tombstone saying U+FFFD)", async () => {
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool) });
    for (const by of ["a\u0000b", "a\uD800b", "\uDC00"]) {
      const ws = randomUUID();
      const sealed = (await cipher.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
      expectTypedErr(await noThrow("destroy", () => cipher.destroy({ workspaceId: ws, by })), `destroy by ${JSON.stringify(by)}`, ["InvalidInput"]);
      expect((await pool.query("select 1 from tenancy_key_tombstones where workspace_id = $1", [ws])).rows).toHaveLength(0);
      expect((await cipher.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed })).isOk()).toBe(true);
    }
  });
});
