/**
 * tenancykit/quota/redis: the Redis (and Redis Cluster) store for QuotaGuard.
 * Create the ioredis client with `autoResendUnfulfilledCommands: false`.
 */
export { RedisQuotaStore, redisQuotaStore, type RedisQuotaStoreOptions } from "./stores/redis.js";
export { GCRA_CONSUME_SCRIPT, QUOTA_SCRIPT } from "./stores/redis-script.js";
export { HOT_SCRIPT } from "./stores/redis-hot-script.js";
