import { err, ok, type Result } from "neverthrow";
import { AuditLogger } from "../audit/logger.js";
import { parseSigningKey } from "../audit/signing.js";
import type { TenantCacheOptions } from "../cache/options.js";
import { TenantCache } from "../cache/tenant-cache.js";
import type { RedisTenantCache } from "../cache/redis/redis-cache.js";
import type { TenancyConfig } from "../core/config.js";
import { configError, type ConfigError, type ConfigProblem, type StoreUnavailableError } from "../core/errors.js";
import type { SqlError } from "../core/postgres/result.js";
import type { PgPoolLike } from "../core/postgres/sql-client.js";
import type { RedisClient } from "../core/redis/runner.js";
import { silentLogger, type TenancyLogger } from "../core/logger.js";
import { parseRootKeys } from "../crypto/keys/root-keys.js";
import { TenantCipher } from "../crypto/tenant-cipher.js";
import { metricsOptionsFromConfig } from "../metrics/options.js";
import { metricsSink } from "../metrics/sink.js";
import { TenantMetrics } from "../metrics/tenant-metrics.js";
import { QuotaGuard } from "../quota/guard.js";
import { policiesFromEnv } from "../quota/policy.js";
import { loadPeers, openClients, within, type Clients, type OwnClients } from "./clients.js";
import { durableStores } from "./durable.js";
import { SharedCaches, type SharedCacheOptions } from "./shared-caches.js";

/** Options of `createTenancy` that env variables do not carry. */
export interface TenancyOptions {
  /** A pino-compatible logger for every primitive. @default silent */
  readonly logger?: TenancyLogger;
  /**
   * Create the audit-log and key-store tables when they are missing
   * (idempotent). Leave it off when your own migrations create them
   * (`AUDIT_MIGRATION_SQL`, `CRYPTO_MIGRATION_SQL`). @default false
   */
  readonly migrate?: boolean;
  /**
   * Settings of the `pg` Pool opened for `TENANCY_DATABASE_URL` (not of `clients.pool`).
   * @default { connectionTimeoutMillis: 10_000, query_timeout: 30_000 }
   */
  readonly pool?: TenancyPoolOptions;
  /**
   * How long `close()` waits for the audit log's last batch and the return of
   * quota leases before it closes the connections anyway. @default 5000
   */
  readonly closeTimeoutMs?: number;
  /**
   * Connections you already have, used instead of opening new ones for the
   * URLs (leave the matching `TENANCY_*_URL` unset); `close()` leaves them
   * open. A Redis Cluster is passed this way.
   */
  readonly clients?: OwnClients;
}

/** The `pg` PoolConfig settings createTenancy passes on (typed here so this module's types need no @types/pg). */
export interface TenancyPoolOptions {
  readonly max?: number;
  readonly connectionTimeoutMillis?: number;
  readonly idleTimeoutMillis?: number;
  /** Client-side limit on any one query (ms). */
  readonly query_timeout?: number;
  /** Server-side `statement_timeout` (ms). */
  readonly statement_timeout?: number;
  readonly application_name?: string;
  /** As pg's `ssl`: `true` or a `tls.ConnectionOptions`. */
  readonly ssl?: boolean | object;
}

/** Every primitive, wired from one `TenancyConfig`. */
export interface Tenancy {
  /** Per-workspace usage; the other primitives report into it. */
  readonly metrics: TenantMetrics;
  /**
   * Quotas on Redis when there is one (`TENANCY_REDIS_URL` or `clients.redis`),
   * else in memory; undefined when `TENANCY_QUOTA_PLANS` is unset (no plans,
   * nothing to enforce).
   */
  readonly quota: QuotaGuard | undefined;
  /**
   * Envelope encryption with its data keys in Postgres when there is one
   * (`TENANCY_DATABASE_URL` or `clients.pool`), else in memory; undefined when
   * `TENANCY_ROOT_KEYS` is unset (never a made-up key that a restart would lose).
   */
  readonly cipher: TenantCipher | undefined;
  /** The audit log in Postgres when there is one, else in memory; signed checkpoints when `TENANCY_AUDIT_SIGNING_KEY` is set. */
  readonly audit: AuditLogger;
  /** The Redis client in use: opened for `TENANCY_REDIS_URL`, or yours (`clients.redis`). */
  readonly redis: RedisClient | undefined;
  /**
   * The `pg` Pool in use (opened for `TENANCY_DATABASE_URL`, or yours), to
   * share: tenancykit's Postgres helpers take it as it is (`withWorkspace`,
   * `checkTenancy`); for drizzle, `drizzle(tenancy.pool as pg.Pool)`.
   */
  readonly pool: PgPoolLike | undefined;
  /**
   * A TenantCache reporting into `metrics` with this tenancy's logger. A cache
   * holds one kind of value, so make one per kind; pass `redis` to a
   * `RedisTenantCache` for a shared tier.
   */
  cache<V>(options: TenantCacheOptions<V>): TenantCache<V>;
  /**
   * A started RedisTenantCache on `redis` (values shared by every process,
   * invalidations over pub/sub), with a subscriber connection of its own that
   * `close()` closes; `timeoutMs` defaults to `TENANCY_REDIS_TIMEOUT_MS`.
   * An `InvalidConfig` Err without Redis; `StoreUnavailable` if the
   * subscription does not start within 2 s, or the tenancy is closed.
   */
  sharedCache<V>(options: SharedCacheOptions<V>): Promise<Result<RedisTenantCache<V>, ConfigError | StoreUnavailableError>>;
  /** Flushes the audit log and returns quota leases (within `closeTimeoutMs`), then closes the clients it opened. */
  close(): Promise<void>;
}

/**
 * Wires every primitive from a validated configuration (`loadConfig`):
 * Redis and Postgres when their URLs are set, the embedded defaults when not.
 * Connections are opened here, explicitly, and closed by `close()`; nothing
 * waits for them, so a Redis that is down at start-up degrades quota
 * decisions as configured instead of failing the start.
 *
 * Every bad value (plans, root keys, signing key, a missing optional peer) is
 * reported at once as `InvalidConfig`, before any connection is opened. A
 * failed `migrate` is `StoreUnavailable` or `StoreFailed`, and closes what
 * was opened. A bad `closeTimeoutMs` (a programmer's error) throws a TypeError.
 *
 * @example
 * const config = loadConfig(process.env);
 * if (config.isErr()) throw new Error(config.error.message);
 * const tenancy = await createTenancy(config.value, { logger });
 * if (tenancy.isErr()) throw new Error(tenancy.error.message);
 * const { quota, audit, cipher, metrics } = tenancy.value;
 */
export async function createTenancy(
  config: TenancyConfig,
  options: TenancyOptions = {},
): Promise<Result<Tenancy, ConfigError | SqlError>> {
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  if (!Number.isFinite(closeTimeoutMs) || closeTimeoutMs < 0) throw new TypeError(`createTenancy: closeTimeoutMs must be a finite number ≥ 0, got ${String(closeTimeoutMs)}`);
  const logger = options.logger ?? silentLogger;
  // Every value is checked before anything is opened, and every problem reported together.
  const problems: ConfigProblem[] = [];
  const plans = config.quotaPlans === undefined ? undefined : collect(policiesFromEnv(config.quotaPlans), "TENANCY_QUOTA_PLANS", problems);
  const signer = config.auditSigningKey === undefined ? undefined : collect(parseSigningKey(config.auditSigningKey), "TENANCY_AUDIT_SIGNING_KEY", problems);
  const rootKeys = config.rootKeys === undefined ? undefined : collect(parseRootKeys(config.rootKeys), "TENANCY_ROOT_KEYS", problems);
  const own = options.clients ?? {};
  if (options.pool !== undefined && own.pool !== undefined) {
    problems.push({ variable: "pool", reason: "settings apply only to a pool opened for TENANCY_DATABASE_URL, not to `clients.pool`" });
  }
  const peers = await loadPeers(config, own, problems);
  if (problems.length > 0) return err(configError(problems));
  const clients = openClients(config, own, peers, logger, options.pool ?? {});
  const stores = await durableStores(clients.pool, options.migrate === true);
  if (stores.isErr()) {
    await clients.close();
    return err(stores.error);
  }
  const { audit: auditStore, keys } = stores.value;
  try {
    const metrics = new TenantMetrics(metricsOptionsFromConfig(config));
    const sink = metricsSink(metrics);
    const quota = plans === undefined ? undefined : new QuotaGuard({ policies: plans, store: clients.quotaStore(config.redisTimeoutMs), metrics: sink, logger });
    const cipher = rootKeys === undefined ? undefined : new TenantCipher({ rootKeys, ...(keys ? { store: keys } : {}), metrics: sink });
    const audit = new AuditLogger({ ...(auditStore ? { store: auditStore } : {}), ...(signer ? { signer } : {}), metrics: sink });
    const shared = new SharedCaches(clients.redis, { metrics: sink, logger, timeoutMs: config.redisTimeoutMs });
    return ok(tenancyOf({ metrics, quota, cipher, audit, clients, shared, sink, logger, closeTimeoutMs }));
  } catch (thrown) {
    // A constructor refusing its options is a programmer's error, thrown; nothing opened stays open.
    await clients.close();
    throw thrown;
  }
}

interface Parts {
  readonly metrics: TenantMetrics;
  readonly quota: QuotaGuard | undefined;
  readonly cipher: TenantCipher | undefined;
  readonly audit: AuditLogger;
  readonly clients: Clients;
  readonly sink: ReturnType<typeof metricsSink>;
  readonly logger: TenancyLogger;
  readonly shared: SharedCaches;
  readonly closeTimeoutMs: number;
}

function tenancyOf({ metrics, quota, cipher, audit, clients, shared, sink, logger, closeTimeoutMs }: Parts): Tenancy {
  const caches: TenantCache<unknown>[] = [];
  return {
    metrics,
    quota,
    cipher,
    audit,
    redis: clients.redis,
    pool: clients.pool,
    cache<V>(cacheOptions: TenantCacheOptions<V>): TenantCache<V> {
      const cache = new TenantCache<V>({ metrics: sink, logger, ...cacheOptions });
      caches.push(cache as TenantCache<unknown>);
      return cache;
    },
    sharedCache: (cacheOptions) => shared.create(cacheOptions),
    async close(): Promise<void> {
      try {
        for (const cache of caches) cache.close();
        // Leases go back to Redis, the last audit batch commits and the shared caches say goodbye before
        // the connections close, all within one bound: an append still waiting then fails (its caller
        // sees it), it is never lost silently.
        await within(Promise.all([quota?.close(), audit.close(), shared.closeAll()]), closeTimeoutMs);
      } finally {
        await clients.close();
      }
    },
  };
}

/** The value of `result`, or undefined with its error recorded against `variable`. */
function collect<T>(result: Result<T, { readonly message: string }>, variable: string, problems: ConfigProblem[]): T | undefined {
  if (result.isOk()) return result.value;
  problems.push({ variable, reason: result.error.message });
  return undefined;
}

export type { OwnClients } from "./clients.js";
export type { SharedCacheOptions } from "./shared-caches.js";
