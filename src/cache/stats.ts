import type { WorkspaceId } from "../core/workspace-id.js";
import { addCounts, type CacheCore, type CacheCounts } from "./core.js";

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
  /**
   * Cache-wide counts since the cache was built: of every workspace, those
   * whose partitions were since cleared or reclaimed and reads of workspaces
   * that had none included (`workspaces` lists only live partitions).
   */
  readonly hits: number;
  readonly misses: number;
  readonly staleHits: number;
  readonly loads: number;
  readonly loadFailures: number;
  readonly evictions: number;
  readonly workspaces: readonly WorkspaceCacheStats[];
}

/**
 * A snapshot of the cache-wide totals and of every live partition. A
 * partition's counts belong to it, so a workspace clear, or the reclaim of an
 * idle partition, starts its row afresh; what it had counted stays in the
 * totals (and was pushed to the metrics sink).
 */
export function collectStats<V>(core: CacheCore<V>): CacheStats {
  const workspaces: WorkspaceCacheStats[] = [];
  let entries = 0;
  const totals: CacheCounts = { ...core.past };
  for (const p of core.partitions.values()) {
    const c = p;
    // Stale entries (expired, kept for stale-while-revalidate) still hold bytes, so they count.
    const held = p.entries;
    entries += held;
    addCounts(totals, c);
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
  return {
    bytes: core.budget.total,
    maxBytes: core.budget.maxBytes,
    entries,
    ...totals,
    evictions: core.budget.evictions,
    workspaces,
  };
}
