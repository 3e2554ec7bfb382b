import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TenantMetricsSink } from "../../../src/core/metrics-sink.js";
import { TenantCache } from "../../../src/cache/index.js";
import { wsId } from "./helpers.js";

// Idle partitions are reclaimed, and a workspace may have none: no count may
// be lost on the way (stats() totals and the metrics sink), and a workspace
// that empties and refills must not pay a partition creation each time.

const A = wsId(1);
const B = wsId(2);

/** A sink that sums what is added and lists what is observed. */
function recorder(): { sink: TenantMetricsSink; added: Record<string, number>; observed: [string, string, number][] } {
  const added: Record<string, number> = {};
  const observed: [string, string, number][] = [];
  return {
    added,
    observed,
    sink: {
      add: (id, name, v) => void (added[`${id === A ? "A" : id === B ? "B" : id}/${name}`] = (added[`${id === A ? "A" : id === B ? "B" : id}/${name}`] ?? 0) + v),
      observe: (id, name, v) => void observed.push([id === A ? "A" : id === B ? "B" : id, name, v]),
    },
  };
}

describe("counts survive partitions coming and going", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  /** Long enough for an idle partition to be reclaimed (well below the 10 s metrics flush). */
  const reclaimed = () => vi.advanceTimersByTimeAsync(5_000);

  it("misses of a workspace with no partition are counted, through a handle and the object form", async () => {
    const { sink, added } = recorder();
    const cache = new TenantCache<string>({ maxBytes: 1e6, metrics: sink });
    const ws = cache.workspace(A)._unsafeUnwrap();
    for (let i = 0; i < 10; i++) expect(ws.get("k")._unsafeUnwrap()).toBeUndefined();
    ws.set("k", "v");
    ws.delete("k");
    expect(cache.get({ workspaceId: A, key: "k" })._unsafeUnwrap()).toBeUndefined();
    await reclaimed();
    expect(cache.core.partitions.size).toBe(0);
    for (let i = 0; i < 3; i++) expect(cache.get({ workspaceId: B, key: "k" })._unsafeUnwrap()).toBeUndefined();
    expect(ws.get("k")._unsafeUnwrap()).toBeUndefined(); // its partition was reclaimed
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 15, workspaces: [] });
    cache.flushMetrics();
    expect(added).toEqual({ "A/cache_misses_total": 12, "B/cache_misses_total": 3 });
    cache.close();
  });

  it("loads, load failures and stale hits of a reclaimed partition reach the sink and the stats() totals", async () => {
    const { sink, added } = recorder();
    const cache = new TenantCache<string>({ maxBytes: 1e6, metrics: sink, ttlMs: 10, ttlJitter: 0, graceMs: 60_000 });
    expect((await cache.getOrLoad({ workspaceId: A, key: "k" }, () => Promise.reject(new Error("down"))))._unsafeUnwrapErr().type).toBe("LoaderFailed");
    // Still listed right after the failure.
    expect(cache.stats().workspaces).toMatchObject([{ workspaceId: A, misses: 1, loads: 1, loadFailures: 1 }]);
    cache.set({ workspaceId: B, key: "s", value: "old" });
    await vi.advanceTimersByTimeAsync(20); // expired, kept as stale
    expect((await cache.getOrLoad({ workspaceId: B, key: "s" }, () => "new"))._unsafeUnwrap()).toBe("old");
    await vi.advanceTimersByTimeAsync(0); // the background refresh writes
    cache.delete({ workspaceId: B, key: "s" });
    await reclaimed();
    expect(cache.core.partitions.size).toBe(0);
    expect(cache.stats()).toMatchObject({ misses: 1, staleHits: 1, loads: 2, loadFailures: 1, workspaces: [] });
    expect(added).toEqual({
      "A/cache_misses_total": 1,
      "A/cache_loads_total": 1,
      "A/cache_load_failures_total": 1,
      "B/cache_stale_hits_total": 1,
      "B/cache_loads_total": 1,
    });
    cache.close();
  });

  it("a reclaim observes no cache_bytes of 0; a flush observes the bytes of each workspace holding a partition", async () => {
    const { sink, observed } = recorder();
    const cache = new TenantCache<string>({ maxBytes: 1e6, metrics: sink, sizeOf: () => 10 });
    cache.set({ workspaceId: A, key: "k", value: "v" });
    cache.delete({ workspaceId: A, key: "k" });
    await reclaimed();
    expect(cache.core.partitions.size).toBe(0);
    expect(observed).toEqual([]);
    cache.set({ workspaceId: B, key: "k", value: "v" });
    cache.flushMetrics();
    expect(observed).toEqual([["B", "cache_bytes", 10]]);
    cache.close();
  });

  it("a workspace that empties and refills between ticks keeps its partition; budgetFor is asked once per partition", async () => {
    let asked = 0;
    const cache = new TenantCache<string>({ maxBytes: 1e6, budgetFor: () => (asked++, { floorBytes: 100, maxBytes: 10_000 }) });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("k", "v");
    expect(asked).toBe(1);
    const partition = cache.core.partitions.get(A);
    for (let i = 0; i < 100; i++) {
      ws.delete("k");
      await Promise.resolve();
      await Promise.resolve();
      ws.set("k", "v");
    }
    expect(cache.core.partitions.get(A)).toBe(partition);
    expect(asked).toBe(1);
    cache.set({ workspaceId: B, key: "k", value: "v" });
    expect(asked).toBe(2);
    expect(cache.core.partitions.get(B)).toMatchObject({ floor: 100, cap: 10_000 });
    // Once idle across the reclaim timer, both go.
    ws.delete("k");
    cache.delete({ workspaceId: B, key: "k" });
    await reclaimed();
    expect(cache.core.partitions.size).toBe(0);
  });
  it("a load that fails after its workspace was cleared still counts as a load failure", async () => {
    const { sink, added } = recorder();
    const cache = new TenantCache<string>({ maxBytes: 1e6, metrics: sink });
    let fail!: (e: Error) => void;
    const loading = cache.getOrLoad({ workspaceId: A, key: "k" }, () => new Promise<string>((_, reject) => (fail = reject)));
    cache.clear({ workspaceId: A });
    fail(new Error("down"));
    expect((await loading)._unsafeUnwrapErr().type).toBe("LoaderFailed");
    expect(cache.stats()).toMatchObject({ misses: 1, loads: 1, loadFailures: 1, workspaces: [] });
    cache.flushMetrics();
    expect(added).toEqual({ "A/cache_misses_total": 1, "A/cache_loads_total": 1, "A/cache_load_failures_total": 1 });
    cache.close();
  });

  it("misses of many workspaces with no partition wait for the sink in a bounded map, and every one arrives", () => {
    const { sink, added } = recorder();
    const cache = new TenantCache<string>({ maxBytes: 1e6, metrics: sink });
    for (let n = 1; n <= 3_000; n++) cache.get({ workspaceId: wsId(n), key: "k" });
    // Pushed in batches of 1,024 workspaces without waiting for a flush.
    expect(Object.keys(added).length).toBeGreaterThanOrEqual(2_048);
    cache.flushMetrics();
    expect(Object.keys(added).length).toBe(3_000);
    expect(Object.values(added).every((v) => v === 1)).toBe(true);
    expect(cache.stats().misses).toBe(3_000);
    cache.close();
  });
});
