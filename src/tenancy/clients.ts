import type { Redis } from "ioredis";
import type { Pool } from "pg";
import type { TenancyConfig } from "../core/config.js";
import type { ConfigProblem } from "../core/errors.js";
import type { TenancyLogger } from "../core/logger.js";
import type { QuotaStore } from "../quota/store.js";
import { MemoryQuotaStore } from "../quota/stores/memory.js";
import { RedisQuotaStore } from "../quota/stores/redis.js";

/** How long `close()` lets Redis answer QUIT before dropping the connection. */
const QUIT_WAIT_MS = 1_000;

/** The connections createTenancy opened (none for an unset URL), and how to close them. */
export interface Clients {
  readonly redis: Redis | undefined;
  readonly pool: Pool | undefined;
  /** The quota store: on `redis` when it is open, else in memory. */
  quotaStore(timeoutMs: number): QuotaStore;
  close(): Promise<void>;
}

/**
 * Opens a Redis client and a `pg` Pool for the URLs that are set. The
 * optional peers are imported only then, so a setup without Redis or Postgres
 * needs neither installed; a URL set without its peer is a problem reported
 * with the others. Neither connection is awaited (see createTenancy).
 */
export async function openClients(config: TenancyConfig, logger: TenancyLogger, problems: ConfigProblem[]): Promise<Clients> {
  const redis = config.redisUrl === undefined ? undefined : await openRedis(config.redisUrl, logger, problems);
  const pool = config.databaseUrl === undefined ? undefined : await openPool(config.databaseUrl, logger, problems);
  return {
    redis,
    pool,
    quotaStore: (timeoutMs) => (redis === undefined ? new MemoryQuotaStore() : new RedisQuotaStore({ client: redis, timeoutMs })),
    async close(): Promise<void> {
      if (redis !== undefined && redis.status !== "end") {
        const ended = new Promise<void>((resolve) => redis.once("end", () => resolve()));
        // QUIT lets replies in flight arrive; a Redis that is down gets a bounded wait, then the socket is dropped.
        await within(redis.quit().catch(() => undefined), QUIT_WAIT_MS);
        redis.disconnect();
        await within(ended, QUIT_WAIT_MS);
      }
      if (pool !== undefined && !pool.ended) await pool.end();
    },
  };
}

async function openRedis(url: string, logger: TenancyLogger, problems: ConfigProblem[]): Promise<Redis | undefined> {
  const ioredis = await optionalPeer(() => import("ioredis"));
  if (ioredis === undefined) {
    problems.push({ variable: "TENANCY_REDIS_URL", reason: "is set but the optional peer ioredis is not installed (npm install ioredis)" });
    return undefined;
  }
  // Commands are not replayed after a reconnect: a quota decision sent before a
  // disconnect must fail within its timeout, not apply twice.
  const client = new ioredis.Redis(url, { autoResendUnfulfilledCommands: false });
  // Without a listener ioredis reports each connection error on stderr; the stores already turn them into Errs.
  client.on("error", (error: unknown) => logger.warn({ err: error }, "tenancy redis connection error"));
  return client;
}

async function openPool(url: string, logger: TenancyLogger, problems: ConfigProblem[]): Promise<Pool | undefined> {
  const pg = await optionalPeer(() => import("pg"));
  if (pg === undefined) {
    problems.push({ variable: "TENANCY_DATABASE_URL", reason: "is set but the optional peer pg is not installed (npm install pg)" });
    return undefined;
  }
  const pool = new pg.default.Pool({ connectionString: url });
  // An idle client's error is emitted on the pool; unhandled, it would crash the process.
  pool.on("error", (error: unknown) => logger.warn({ err: error }, "tenancy postgres idle client error"));
  return pool;
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

/** Waits for `promise`, or `ms` at most. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise, elapsed]);
  clearTimeout(timer);
}
