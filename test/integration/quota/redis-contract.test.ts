import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import { runQuotaStoreContract } from "../../../src/testing/quota-contract.js";
import { clusterClient, redisClient, whenReady } from "../../support/redis-clients.js";

const redis = redisClient();
const cluster = clusterClient();
beforeAll(async () => {
  await Promise.all([whenReady(redis), whenReady(cluster)]);
});
afterAll(async () => {
  await Promise.all([redis.quit(), cluster.quit()]);
});

// Redis decides on its own TIME, so letting time pass means waiting for real.
runQuotaStoreContract({ describe, it, expect } as never, "redis", () => ({
  store: new RedisQuotaStore({ client: redis, timeoutMs: 2_000 }),
  advance: (ms) => sleep(ms),
}));

runQuotaStoreContract({ describe, it, expect } as never, "redis cluster (3 masters)", () => ({
  store: new RedisQuotaStore({ client: cluster, timeoutMs: 2_000 }),
  advance: (ms) => sleep(ms),
}));
