import type { WorkspaceId } from "../core/workspace-id.js";
import type { CacheCore } from "./core.js";

export interface WorkspaceCacheStats {
  readonly workspaceId: WorkspaceId;
  readonly hits: number;
  readonly misses: number;
  /** Stale values served by getOrLoad while refreshing (stale-while-revalidate). */
  readonly staleHits: number;
  readonly loads: number;
  readonly loadFailures: number;
  /** Entries this workspace lost to its cap or to the shared pool. */
  readonly evictions: number;
  readonly bytes: number;
  readonly entries: number;
  readonly floorBytes: number;
  readonly maxBytes: number;
}

export interface CacheStats {
  readonly bytes: number;
  readonly maxBytes: number;
  readonly entries: number;
  readonly evictions: number;
  readonly workspaces: readonly WorkspaceCacheStats[];
}

/**
 * A snapshot of every live partition. Counters belong to the partition, so a
 * workspace clear, or the reclaim of an idle partition, starts them afresh
 * (their totals were pushed to the metrics sink then).
 */
export function collectStats<V>(core: CacheCore<V>): CacheStats {
  const workspaces: WorkspaceCacheStats[] = [];
  let entries = 0;
  for (const p of core.partitions.values()) {
    const c = p;
    // Stale entries (expired, kept for stale-while-revalidate) still hold bytes, so they count.
    const held = p.entries;
    entries += held;
    workspaces.push({
      workspaceId: p.workspaceId,
      hits: c.hits,
      misses: c.misses,
      staleHits: c.staleHits,
      loads: c.loads,
      loadFailures: c.loadFailures,
      evictions: c.evictions,
      bytes: p.bytes,
      entries: held,
      floorBytes: p.floor,
      maxBytes: p.cap,
    });
  }
  return { bytes: core.budget.total, maxBytes: core.budget.maxBytes, entries, evictions: core.budget.evictions, workspaces };
}
