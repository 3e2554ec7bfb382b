import type { Redis } from "ioredis";
import type { Pool, PoolConfig } from "pg";
import type { PgPoolLike } from "../core/postgres/sql-client.js";
import { REPLAY_PROBLEM, replaysCommands, type RedisClient } from "../core/redis/runner.js";
import type { TenancyConfig } from "../core/config.js";
import type { ConfigProblem } from "../core/errors.js";
import type { TenancyLogger } from "../core/logger.js";
import type { QuotaStore } from "../quota/store.js";
import { MemoryQuotaStore } from "../quota/stores/memory.js";
import { RedisQuotaStore } from "../quota/stores/redis.js";

/** How long closing waits for Redis to answer QUIT, and for the pool's clients to finish. */
export const CLOSE_WAIT_MS = 1_000;

/**
 * The pool's defaults where `pg` has none: without them a Postgres that
 * accepts connections but never answers hangs start-up (`migrate`), every
 * store call and `close()` forever.
 */
export const POOL_DEFAULTS = { connectionTimeoutMillis: 10_000, query_timeout: 30_000 } as const;

/** Connections the caller already has, to use instead of opening new ones (never closed here). */
export interface OwnClients {
  /** An ioredis `Redis` or `Cluster`, created with `autoResendUnfulfilledCommands: false`. */
  readonly redis?: RedisClient;
  /** A `pg` Pool (or anything `withWorkspace` takes that has `connect`, `query` and `totalCount`). */
  readonly pool?: PgPoolLike;
}

/** The optional peers a configuration needs, loaded (`undefined`: not needed). */
export interface Peers {
  readonly ioredis: typeof import("ioredis") | undefined;
  readonly pg: typeof import("pg") | undefined;
}

/**
 * Imports the optional peers the URLs that are set need, and only those: a
 * setup without Redis or Postgres needs neither installed. A URL set without
 * its peer is a problem, reported with the others.
 */
export async function loadPeers(config: TenancyConfig, own: OwnClients, problems: ConfigProblem[]): Promise<Peers> {
  // A URL and a client of one's own for the same server: which one is meant cannot be guessed.
  if (config.redisUrl !== undefined && own.redis !== undefined) {
    problems.push({ variable: "TENANCY_REDIS_URL", reason: "is set and a Redis client was passed in `clients.redis`: keep one" });
  }
  if (config.databaseUrl !== undefined && own.pool !== undefined) {
    problems.push({ variable: "TENANCY_DATABASE_URL", reason: "is set and a pool was passed in `clients.pool`: keep one" });
  }
  if (own.redis !== undefined && replaysCommands(own.redis)) {
    problems.push({ variable: "clients.redis", reason: REPLAY_PROBLEM });
  }
  const ioredis = config.redisUrl === undefined ? undefined : await optionalPeer(() => import("ioredis"));
  if (config.redisUrl !== undefined && ioredis === undefined) {
    problems.push({ variable: "TENANCY_REDIS_URL", reason: "is set but the optional peer ioredis is not installed (npm install ioredis)" });
  }
  const pg = config.databaseUrl === undefined ? undefined : await optionalPeer(() => import("pg"));
  if (config.databaseUrl !== undefined && pg === undefined) {
    problems.push({ variable: "TENANCY_DATABASE_URL", reason: "is set but the optional peer pg is not installed (npm install pg)" });
  }
  return { ioredis, pg };
}

/** The connections in use (opened here for a URL, or the caller's own), and how to close the ones opened here. */
export interface Clients {
  readonly redis: RedisClient | undefined;
  readonly pool: PgPoolLike | undefined;
  /** The quota store: on `redis` when it is open, else in memory. */
  quotaStore(timeoutMs: number): QuotaStore;
  close(): Promise<void>;
}

/**
 * Opens a Redis client and a `pg` Pool for the URLs that are set (neither is
 * awaited, see createTenancy), or uses the caller's own, which `close()`
 * leaves open.
 */
export function openClients(config: TenancyConfig, own: OwnClients, peers: Peers, logger: TenancyLogger, poolOptions: Omit<PoolConfig, "connectionString">): Clients {
  let redis: Redis | undefined;
  if (config.redisUrl !== undefined && peers.ioredis !== undefined) {
    // Commands are not replayed after a reconnect: a quota decision sent before a
    // disconnect must fail within its timeout, not apply twice.
    redis = new peers.ioredis.Redis(config.redisUrl, { autoResendUnfulfilledCommands: false });
    // Without a listener ioredis reports each connection error on stderr; the stores already turn them into Errs.
    redis.on("error", (error: unknown) => logger.warn({ err: error }, "tenancy redis connection error"));
  }
  let pool: Pool | undefined;
  if (config.databaseUrl !== undefined && peers.pg !== undefined) {
    pool = new peers.pg.default.Pool({ ...POOL_DEFAULTS, ...poolOptions, connectionString: config.databaseUrl });
    // An idle client's error is emitted on the pool; unhandled, it would crash the process.
    pool.on("error", (error: unknown) => logger.warn({ err: error }, "tenancy postgres idle client error"));
  }
  const redisInUse: RedisClient | undefined = redis ?? own.redis;
  return {
    redis: redisInUse,
    pool: pool ?? own.pool,
    // A slow reply makes the store reset a connection it believes stuck; never the caller's own, which others share.
    quotaStore: (timeoutMs) =>
      redisInUse === undefined ? new MemoryQuotaStore() : new RedisQuotaStore({ client: redisInUse, timeoutMs, reconnectOnTimeout: redis !== undefined }),
    async close(): Promise<void> {
      if (redis !== undefined) await closeRedis(redis);
      if (pool !== undefined && !pool.ended) await within(pool.end(), CLOSE_WAIT_MS);
    },
  };
}

/**
 * QUIT when connected, so replies in flight still arrive (bounded); when
 * Redis is down, one disconnect, which stops the reconnection attempts.
 */
async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "end") return;
  if (redis.status !== "ready") {
    redis.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => redis.once("end", () => resolve()));
  const quit = await within(redis.quit().then(() => true, () => false), CLOSE_WAIT_MS);
  if (quit !== true) redis.disconnect();
  await within(ended, CLOSE_WAIT_MS);
}

async function optionalPeer<T>(load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (thrown) {
    const code = (thrown as { code?: unknown } | null)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return undefined;
    throw thrown;
  }
}

/** `promise`'s value, or undefined once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, elapsed]);
  } finally {
    clearTimeout(timer);
  }
}
