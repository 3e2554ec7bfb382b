/**
 * tenancykit/cache: TenantCache, a workspace-partitioned in-process cache with
 * byte budgets, O(1) workspace clear, TTL with jitter, negative caching,
 * stale-while-revalidate and fenced single-flight loads. The optional Redis
 * tier is at `tenancykit/cache/redis`.
 */
export { TenantCache, type CacheKeyParams } from "./tenant-cache.js";
export { WorkspaceCache } from "./workspace-cache.js";
export type { SetOptions } from "./core.js";
export type { Loader, LoadContext } from "./load.js";
export { estimateSize, type TenantCacheOptions, type WorkspaceBudget } from "./options.js";
export type { CacheStats, WorkspaceCacheStats } from "./stats.js";
export type {
  CacheError,
  EntryTooLargeError,
  InvalidKeyError,
  InvalidSizeError,
  InvalidationNotAcknowledgedError,
  LoaderFailedError,
  SerializationFailedError,
} from "./errors.js";
