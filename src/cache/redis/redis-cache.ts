import { randomUUID } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import type { InvalidWorkspaceIdError, StoreUnavailableError } from "../../core/errors.js";
import { RedisRunner, type RedisClient } from "../../core/redis/runner.js";
import { parseWorkspaceId, type WorkspaceId } from "../../core/workspace-id.js";
import type { CacheError } from "../errors.js";
import type { Loader } from "../load.js";
import type { TenantCacheOptions } from "../options.js";
import type { CacheStats } from "../stats.js";
import { NO_PARAMS, TenantCache, type CacheKeyParams } from "../tenant-cache.js";
import { CircuitBreaker } from "./breaker.js";
import { InvalidationBus, type BusSubscriber } from "./bus.js";
import { jsonCodec, type CacheCodec } from "./codec.js";
import { RedisWorkspaceCache, type InvalidateOptions } from "./redis-workspace.js";
import { RedisTier } from "./tier.js";

export interface RedisTenantCacheOptions<V> extends TenantCacheOptions<V> {
  /** The user's ioredis client for commands (create it with autoResendUnfulfilledCommands: false). */
  readonly client: RedisClient;
  /** A second connection of the user's, used only for SUBSCRIBE (e.g. `client.duplicate()`). */
  readonly subscriber: BusSubscriber;
  /** Pub/sub channel shared by every node of this cache. @default "tk:cache:invalidations" */
  readonly channel?: string;
  /** TTL of entries in Redis (old generations expire by it). @default ttlMs, or 1 hour */
  readonly redisTtlMs?: number;
  /** Per-call Redis timeout. @default 50 */
  readonly timeoutMs?: number;
  /** Heartbeat period: the bound on staleness when a message is silently lost. @default 1000 */
  readonly heartbeatMs?: number;
  /** When true, invalidations resolve after every live node confirmed them. @default false */
  readonly acknowledged?: boolean;
  /** How long an acknowledged invalidation waits for confirmations. @default 1000 */
  readonly ackTimeoutMs?: number;
  /** A silent node still counts as live (acks wait for it) for this long. @default 10 × heartbeatMs */
  readonly peerLivenessMs?: number;
  /** Consecutive Redis failures that open the breaker, and how long it stays open. @default { threshold: 5, cooldownMs: 1000 } */
  readonly breaker?: { readonly threshold?: number; readonly cooldownMs?: number };
  readonly codec?: CacheCodec<V>;
  /** This node's id on the bus. @default a random UUID */
  readonly nodeId?: string;
}

/**
 * TenantCache with a shared Redis tier: each process keeps a local partitioned
 * cache (L1) in front of Redis; writes and deletes bump a per-key version and
 * publish an invalidation in the same round trip; clears INCR a per-workspace
 * generation (O(1), no SCAN). Other nodes drop their local copies on the
 * message, and flush their local tier when a sequence gap, a reconnect or a
 * missed heartbeat shows they may have missed one. While Redis is down every
 * call settles within its timeout (then at once, behind a circuit breaker)
 * and the cache serves from memory.
 *
 * Call `start()` before use and `close()` at shutdown; the clients stay the user's.
 */
export class RedisTenantCache<V> {
  readonly local: TenantCache<V>;
  readonly nodeId: string;
  readonly #tier: RedisTier<V>;

  /** Throws a TypeError listing every invalid option. */
  constructor(options: RedisTenantCacheOptions<V>) {
    const problems: string[] = [];
    const positive = (name: string, value: number | undefined) => {
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) problems.push(`${name} must be a positive number`);
    };
    positive("redisTtlMs", options.redisTtlMs);
    positive("timeoutMs", options.timeoutMs);
    positive("heartbeatMs", options.heartbeatMs);
    positive("ackTimeoutMs", options.ackTimeoutMs);
    positive("peerLivenessMs", options.peerLivenessMs);
    positive("breaker.threshold", options.breaker?.threshold);
    positive("breaker.cooldownMs", options.breaker?.cooldownMs);
    if (problems.length > 0) throw new TypeError(`RedisTenantCache: ${problems.join("; ")}`);
    this.local = new TenantCache<V>(options);
    this.nodeId = options.nodeId ?? randomUUID();
    const core = this.local.core;
    const runner = new RedisRunner(options.client, { timeoutMs: options.timeoutMs ?? 50 });
    const heartbeatMs = options.heartbeatMs ?? 1_000;
    const bus = new InvalidationBus(
      runner,
      options.subscriber,
      { nodeId: this.nodeId, channel: options.channel ?? "tk:cache:invalidations", heartbeatMs, ackTimeoutMs: options.ackTimeoutMs ?? 1_000,
        peerLivenessMs: options.peerLivenessMs ?? heartbeatMs * 10,
        now: Date.now,
      },
      {
        invalidate: (workspaceId, key) => {
          // Peers send normalised ids, which are the partition map's keys: look
          // the raw string up first and parse only when it is not found.
          let p = core.partitions.get(workspaceId as WorkspaceId);
          if (p === undefined) {
            const id = parseWorkspaceId(workspaceId);
            if (id.isErr()) return;
            p = core.partitions.get(id.value);
            if (p === undefined) return; // nothing cached here (and no load in flight: flights live on the partition)
          }
          if (key === undefined) core.clear(p.workspaceId);
          else core.remove(p, key);
        },
        flush: (reason) => {
          core.logger.warn({ reason, nodeId: this.nodeId }, "cache: flushing local tier");
          core.clearAll();
        },
      },
    );
    const redisTtlMs = options.redisTtlMs ?? (core.options.ttlMs > 0 ? core.options.ttlMs : 3_600_000);
    this.#tier = new RedisTier<V>(
      core,
      runner,
      bus,
      new CircuitBreaker(options.breaker?.threshold ?? 5, options.breaker?.cooldownMs ?? 1_000),
      options.codec ?? (jsonCodec as CacheCodec<V>),
      Math.ceil(redisTtlMs),
      // A version key must outlive any fill that read it; fills are bounded by loader time.
      // A floor: fills and writes extend it to outlive their entries (see scripts.ts).
      Math.max(Math.ceil(redisTtlMs), 3_600_000),
      options.acknowledged ?? false,
    );
  }

  /** Subscribes to the invalidation channel and starts heartbeats. */
  start(): Promise<Result<void, StoreUnavailableError>> {
    return this.#tier.bus.start();
  }

  /** Stops heartbeats, says goodbye on the bus and unsubscribes; does not close the user's clients. */
  async close(): Promise<void> {
    await this.#tier.bus.close();
    this.local.close();
  }

  workspace(workspaceId: string): Result<RedisWorkspaceCache<V>, InvalidWorkspaceIdError> {
    const id = parseWorkspaceId(workspaceId);
    return id.isErr() ? err(id.error) : ok(new RedisWorkspaceCache(this.#tier, id.value));
  }

  get(params: CacheKeyParams): Promise<Result<V | undefined, CacheError>> {
    const p = params ?? NO_PARAMS;
    return this.#with(p.workspaceId, (ws) => ws.get(p.key));
  }

  getOrLoad(params: CacheKeyParams, loader: Loader<V>): Promise<Result<V | undefined, CacheError>> {
    const p = params ?? NO_PARAMS;
    return this.#with(p.workspaceId, (ws) => ws.getOrLoad(p.key, loader));
  }

  set(params: CacheKeyParams & { readonly value: V } & InvalidateOptions): Promise<Result<void, CacheError>> {
    const p = params ?? (NO_PARAMS as typeof params);
    return this.#with(p.workspaceId, (ws) => ws.set(p.key, p.value, p));
  }

  delete(params: CacheKeyParams & InvalidateOptions): Promise<Result<void, CacheError>> {
    const p = params ?? NO_PARAMS;
    return this.#with(p.workspaceId, (ws) => ws.delete(p.key, p));
  }

  clear(params: { readonly workspaceId: string } & InvalidateOptions): Promise<Result<void, CacheError>> {
    const p = params ?? NO_PARAMS;
    return this.#with(p.workspaceId, (ws) => ws.clear(p));
  }

  /** Local-tier stats plus the bus and breaker state. */
  stats(): CacheStats & { readonly bus: Readonly<InvalidationBus["counters"]>; readonly peers: number; readonly breakerOpen: boolean } {
    const bus = this.#tier.bus;
    return { ...this.local.stats(), bus: { ...bus.counters }, peers: bus.peers.size, breakerOpen: this.#tier.breaker.open };
  }

  async #with<T>(workspaceId: string, run: (ws: RedisWorkspaceCache<V>) => Promise<Result<T, CacheError>>): Promise<Result<T, CacheError>> {
    const ws = this.workspace(workspaceId);
    return ws.isErr() ? err(ws.error) : run(ws.value);
  }
}
