import type { WorkspaceId } from "../core/workspace-id.js";
import { HistogramStore, type MetricStore } from "./storage.js";

export interface HistogramUsage {
  readonly count: number;
  readonly sum: number;
  /** Non-cumulative bucket counts; the last is the overflow bucket. */
  readonly buckets: readonly number[];
  readonly boundaries: readonly number[];
}

/** One workspace's in-process usage. */
export interface WorkspaceUsage {
  readonly workspaceId: WorkspaceId;
  /** False when the workspace holds no slot (never seen, or retired as idle). */
  readonly tracked: boolean;
  /** False when a Space-Saving replacement left an overestimate in some metric. */
  readonly exact: boolean;
  /** Counter, up-down counter and gauge values by metric name. */
  readonly values: Readonly<Record<string, number>>;
  readonly histograms: Readonly<Record<string, HistogramUsage>>;
  /** Overestimate bound per metric, present only where it is non-zero. */
  readonly errors: Readonly<Record<string, number>>;
}

export function usageOf(id: WorkspaceId, slot: number, stores: ReadonlyMap<string, MetricStore>): WorkspaceUsage {
  const values: Record<string, number> = {};
  const histograms: Record<string, HistogramUsage> = {};
  const errors: Record<string, number> = {};
  const tracked = slot >= 0;
  for (const [name, store] of stores) {
    const error = tracked ? (store.errors?.[slot] ?? 0) : 0;
    if (error > 0) errors[name] = error;
    if (store instanceof HistogramStore) {
      histograms[name] = {
        count: tracked ? (store.count[slot] ?? 0) : 0,
        sum: tracked ? (store.sum[slot] ?? 0) : 0,
        buckets: tracked ? store.bucketsOf(slot) : new Array<number>(store.buckets).fill(0),
        boundaries: store.descriptor.boundaries,
      };
    } else {
      values[name] = tracked ? (store.values[slot] ?? 0) : 0;
    }
  }
  return { workspaceId: id, tracked, exact: Object.keys(errors).length === 0, values, histograms, errors };
}
