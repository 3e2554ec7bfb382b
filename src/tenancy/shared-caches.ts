import type { Cluster, Redis } from "ioredis";
import { err, ok, type Result } from "neverthrow";
import { RedisTenantCache, type RedisTenantCacheOptions } from "../cache/redis/redis-cache.js";
import { configError, storeUnavailable, type ConfigError, type StoreUnavailableError } from "../core/errors.js";
import type { TenancyLogger } from "../core/logger.js";
import type { TenantMetricsSink } from "../core/metrics-sink.js";
import { isCluster, type RedisClient } from "../core/redis/runner.js";
import { within } from "./clients.js";

/** How long a shared cache waits for its subscription to start, or to close after a failed start. */
export const SUBSCRIBE_WAIT_MS = 2_000;

/** A RedisTenantCache's options, less the connections `sharedCache` provides. */
export type SharedCacheOptions<V> = Omit<RedisTenantCacheOptions<V>, "client" | "subscriber">;

interface Open {
  readonly cache: RedisTenantCache<unknown>;
  readonly subscriber: RedisClient;
}

/**
 * The tenancy's shared (Redis-tier) caches, each on a subscriber connection
 * of its own that is closed with it. Once the tenancy is closed no new one
 * starts, and one that was starting is closed again.
 */
export class SharedCaches {
  readonly #open = new Set<Open>();
  #closed = false;

  constructor(
    private readonly client: RedisClient | undefined,
    private readonly defaults: { readonly metrics: TenantMetricsSink; readonly logger: TenancyLogger; readonly timeoutMs: number },
  ) {}

  async create<V>(options: SharedCacheOptions<V>): Promise<Result<RedisTenantCache<V>, ConfigError | StoreUnavailableError>> {
    const client = this.client;
    if (client === undefined) {
      return err(configError([{ variable: "TENANCY_REDIS_URL", reason: "is not set (nor `clients.redis` passed): a shared cache needs Redis" }]));
    }
    if (this.#closed) return err(storeUnavailable("the tenancy is closed: no new shared cache"));
    const subscriber = subscriberFor(client);
    subscriber.on("error", (error: unknown) => this.defaults.logger.warn({ err: error }, "tenancy shared cache subscriber error"));
    let cache: RedisTenantCache<V>;
    try {
      cache = new RedisTenantCache<V>({ ...this.defaults, ...options, client, subscriber });
    } catch (thrown) {
      subscriber.disconnect(); // bad options are the caller's error: thrown, with nothing left open
      throw thrown;
    }
    const open: Open = { cache: cache as RedisTenantCache<unknown>, subscriber };
    this.#open.add(open);
    const started = await within(cache.start(), SUBSCRIBE_WAIT_MS);
    if (started !== undefined && started.isOk() && !this.#closed) return ok(cache);
    this.#open.delete(open);
    await shut(open);
    if (this.#closed) return err(storeUnavailable("the tenancy was closed while the shared cache was starting"));
    return err(started?.isErr() ? started.error : storeUnavailable(`the shared cache's subscription did not start within ${SUBSCRIBE_WAIT_MS} ms`));
  }

  /** Closes every shared cache, all at once (the caller bounds the wait). */
  async closeAll(): Promise<void> {
    this.#closed = true;
    const open = [...this.#open];
    this.#open.clear();
    await Promise.all(open.map(shut));
  }
}

/**
 * A second connection for SUBSCRIBE, with an offline queue whatever the
 * client's own setting, so the subscription waits for the new connection
 * instead of failing while it connects.
 */
function subscriberFor(client: RedisClient): RedisClient {
  if (isCluster(client)) return (client as Cluster).duplicate([], { enableOfflineQueue: true });
  return (client as Redis).duplicate({ enableOfflineQueue: true });
}

/** The subscriber goes first, so a Redis that is down cannot hold the cache's UNSUBSCRIBE. */
async function shut({ cache, subscriber }: Open): Promise<void> {
  subscriber.disconnect();
  await within(cache.close(), SUBSCRIBE_WAIT_MS);
}
