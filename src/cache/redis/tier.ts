import type { Result } from "neverthrow";
import { err } from "neverthrow";
import { storeUnavailable } from "../../core/errors.js";
import type { RedisCallError, RedisRunner } from "../../core/redis/runner.js";
import type { CacheCore } from "../core.js";
import type { CircuitBreaker } from "./breaker.js";
import type { InvalidationBus } from "./bus.js";
import type { CacheCodec } from "./codec.js";

/** What a Redis workspace handle shares with its cache (one object, built once). */
export class RedisTier<V> {
  constructor(
    readonly core: CacheCore<V>,
    readonly runner: RedisRunner,
    readonly bus: InvalidationBus,
    readonly breaker: CircuitBreaker,
    readonly codec: CacheCodec<V>,
    readonly redisTtlMs: number,
    readonly versionTtlMs: number,
    readonly acknowledged: boolean,
  ) {}

  /**
   * Runs a Redis call behind the circuit breaker: fails at once while it is
   * open. Not an async function: the reply reaches the caller one promise hop
   * sooner (this is on the invalidation's critical path).
   */
  guarded<T>(call: () => Promise<Result<T, RedisCallError>>): Promise<Result<T, RedisCallError>> {
    if (!this.breaker.allow()) return Promise.resolve(err(storeUnavailable("redis circuit breaker is open; serving from memory")));
    return call().then((result) => {
      // Any answer, an error reply included, shows Redis reachable; only StoreUnavailable
      // (no answer, a timeout) counts against it. Either way the breaker hears back, so a
      // probe always settles (see CircuitBreaker).
      if (result.isErr() && result.error.type === "StoreUnavailable") this.breaker.failure();
      else this.breaker.success();
      return result;
    });
  }
}
