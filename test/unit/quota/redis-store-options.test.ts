import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";

describe("RedisQuotaStore options (no server: lazy clients)", () => {
  it("refuses an ioredis client that would replay in-flight commands after a reconnect", () => {
    const replaying = new Redis({ lazyConnect: true });
    expect(() => new RedisQuotaStore({ client: replaying })).toThrow(/autoResendUnfulfilledCommands/);
    const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    expect(() => new RedisQuotaStore({ client: cluster })).toThrow(/autoResendUnfulfilledCommands/);
    // A Cluster also re-sends a command whose node connection closed (Redis may have run it) after retryDelayOnFailover.
    const failover = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true, redisOptions: { autoResendUnfulfilledCommands: false } });
    expect(() => new RedisQuotaStore({ client: failover })).toThrow(/retryDelayOnFailover: 0/);
    const safeCluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true, redisOptions: { autoResendUnfulfilledCommands: false }, retryDelayOnFailover: 0 });
    expect(new RedisQuotaStore({ client: safeCluster }).name).toBe("redis");
    const safe = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    expect(new RedisQuotaStore({ client: safe }).key("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01", "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02", "segments")).toBe(
      "tk:{8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01}:quota:8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02:segments",
    );
    expect(() => new RedisQuotaStore({ client: safe, timeoutMs: 0 })).toThrow(/timeoutMs/);
    for (const maxBatch of [0, -1, 2.5, Number.NaN]) expect(() => new RedisQuotaStore({ client: safe, maxBatch })).toThrow(/maxBatch must be a positive integer/);
    expect(new RedisQuotaStore({ client: safe, maxBatch: 1 }).name).toBe("redis");
  });

  it("a decision on a client that is not connected is a StoreUnavailable error at once, never queued", async () => {
    const client = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    const store = new RedisQuotaStore({ client });
    const r = await store.apply({ mode: "consume", items: [{ key: "tk:{x}:quota:a:b", kind: 3, limit: 1, cost: 1, a: 1_000, b: 1 }] });
    expect(r._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
  });
});
