import type { Clock } from "../core/clock.js";
import type { TenancyLogger } from "../core/logger.js";
import type { TenantMetricsSink } from "../core/metrics-sink.js";
import type { WorkspaceId } from "../core/workspace-id.js";

/** Per-workspace budget overrides, e.g. from the workspace's plan. */
export interface WorkspaceBudget {
  /** Bytes this workspace always keeps: others never evict it below this. */
  readonly floorBytes?: number;
  /** Hard cap on the bytes this workspace may hold (its own LRU evicts beyond it). */
  readonly maxBytes?: number;
}

export interface TenantCacheOptions<V> {
  /** Total bytes across all workspaces (as measured by `sizeOf`). */
  readonly maxBytes: number;
  /**
   * Bytes each workspace is guaranteed: while a workspace holds less than its
   * floor, other workspaces' inserts never evict its entries. The rest of
   * `maxBytes` is a shared pool; when it is full the workspace furthest over
   * its floor loses its least recently used entries first.
   * @default maxBytes / 100
   */
  readonly floorBytes?: number;
  /** Default per-workspace cap. @default maxBytes */
  readonly maxWorkspaceBytes?: number;
  /**
   * Plan-based overrides, asked once each time a workspace's partition is
   * created: at its first write or load, and again after its partition was
   * cleared, or reclaimed (idle for about a second, see RECLAIM_DELAY_MS).
   * A workspace that empties and fills again within that time keeps its
   * partition and is not asked again. If it throws, the defaults apply and
   * the error is logged.
   */
  readonly budgetFor?: (workspaceId: WorkspaceId) => WorkspaceBudget | undefined;
  /** Size of one entry in bytes; must return a finite number ≥ 0. @default a rough estimate */
  readonly sizeOf?: (value: V, key: string) => number;
  /** Largest single entry accepted. @default the workspace cap */
  readonly maxEntryBytes?: number;
  /** Longest key accepted (characters). @default 1024 */
  readonly maxKeyLength?: number;
  /** Time to live of a found value. 0 = no expiry. @default 0 */
  readonly ttlMs?: number;
  /**
   * Fraction (0..1) by which each TTL is shortened at random, so entries
   * filled together do not all expire (and reload) together. @default 0.1
   */
  readonly ttlJitter?: number;
  /** TTL of a cached "not found" (a loader returned undefined). 0 = not cached. @default 0 */
  readonly negativeTtlMs?: number;
  /**
   * Stale-while-revalidate: for this long after expiry `getOrLoad` returns the
   * old value at once and refreshes it in the background. @default 0
   */
  readonly graceMs?: number;
  /** Injected clock (tests). @default a 1 ms-resolution cached system clock */
  readonly clock?: Clock;
  /** Injected randomness for TTL jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /**
   * Where per-workspace counts go (hits, misses, evictions, stale hits, loads,
   * load failures: nothing is lost when a partition is cleared or reclaimed)
   * and each workspace's bytes (observed at each flush).
   */
  readonly metrics?: TenantMetricsSink;
  /** How often accumulated counts are pushed to `metrics` (and bytes observed). @default 10000 */
  readonly metricsFlushMs?: number;
  readonly logger?: TenancyLogger;
}

/** Options after defaults, validated. */
export interface ResolvedCacheOptions<V> {
  readonly maxBytes: number;
  readonly floorBytes: number;
  readonly maxWorkspaceBytes: number;
  readonly budgetFor: ((workspaceId: WorkspaceId) => WorkspaceBudget | undefined) | undefined;
  readonly sizeOf: (value: V, key: string) => number;
  readonly maxEntryBytes: number;
  readonly maxKeyLength: number;
  readonly ttlMs: number;
  readonly ttlJitter: number;
  readonly negativeTtlMs: number;
  readonly graceMs: number;
}

const isNonNegative = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0;

/** Validates options and lists every problem at once (a programmer error: throws TypeError). */
export function resolveCacheOptions<V>(options: TenantCacheOptions<V>): ResolvedCacheOptions<V> {
  const problems: string[] = [];
  const { maxBytes } = options;
  if (!isNonNegative(maxBytes) || maxBytes < 1) problems.push(`maxBytes must be a positive number, got ${String(maxBytes)}`);
  const max = isNonNegative(maxBytes) ? Math.floor(maxBytes) : 1;
  const check = (name: string, value: number | undefined, fallback: number, upper = Infinity): number => {
    if (value === undefined) return fallback;
    if (!isNonNegative(value) || value > upper) {
      problems.push(`${name} must be a number in [0, ${upper}], got ${String(value)}`);
      return fallback;
    }
    return value;
  };
  const floorBytes = check("floorBytes", options.floorBytes, Math.floor(max / 100), max);
  const maxWorkspaceBytes = check("maxWorkspaceBytes", options.maxWorkspaceBytes, max, max);
  const maxEntryBytes = check("maxEntryBytes", options.maxEntryBytes, maxWorkspaceBytes);
  const maxKeyLength = check("maxKeyLength", options.maxKeyLength, 1024);
  const ttlMs = check("ttlMs", options.ttlMs, 0);
  const ttlJitter = check("ttlJitter", options.ttlJitter, 0.1, 1);
  const negativeTtlMs = check("negativeTtlMs", options.negativeTtlMs, 0);
  const graceMs = check("graceMs", options.graceMs, 0);
  check("metricsFlushMs", options.metricsFlushMs, 10_000);
  if (maxWorkspaceBytes < 1) problems.push("maxWorkspaceBytes must be at least 1");
  if (problems.length > 0) throw new TypeError(`TenantCache: ${problems.join("; ")}`);
  return {
    maxBytes: max,
    floorBytes,
    maxWorkspaceBytes: Math.floor(maxWorkspaceBytes),
    budgetFor: options.budgetFor,
    sizeOf: options.sizeOf ?? estimateSize,
    maxEntryBytes,
    maxKeyLength,
    ttlMs,
    ttlJitter,
    negativeTtlMs,
    graceMs,
  };
}

/**
 * A rough byte estimate when no `sizeOf` is given: UTF-16 strings at 2 bytes
 * a character, numbers 8, objects by their JSON length. Pass a real `sizeOf`
 * for large or cyclic values (JSON.stringify of a cycle throws, which the
 * cache reports as an InvalidSize error).
 */
export function estimateSize(value: unknown, key: string): number {
  const base = 48 + key.length * 2;
  switch (typeof value) {
    case "string":
      return base + value.length * 2;
    case "number":
    case "boolean":
    case "undefined":
      return base + 8;
    default:
      return base + (value === null ? 8 : (JSON.stringify(value)?.length ?? 8) * 2);
  }
}
