/**
 * tenancykit/cache/redis: the optional shared Redis tier of TenantCache, with
 * cross-process invalidation over pub/sub. Uses the user's ioredis clients;
 * opens no connection of its own.
 */
export { RedisTenantCache, type RedisTenantCacheOptions } from "./redis/redis-cache.js";
export { RedisWorkspaceCache, type InvalidateOptions } from "./redis/redis-workspace.js";
export type { BusSubscriber } from "./redis/bus.js";
export { jsonCodec, type CacheCodec } from "./redis/codec.js";
export type { CacheError } from "./errors.js";
