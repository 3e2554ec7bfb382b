import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantCache } from "../../../src/cache/index.js";
import { MAX_IDLE_WAITING, RECLAIM_DELAY_MS } from "../../../src/cache/core.js";
import { wsId } from "./helpers.js";

// A partition exists only while its workspace holds something (an entry, a
// load, a Redis-tier write): reads, loads that cache nothing and deletes of
// the last entry must not leave one per workspace ever seen.

/** Lets the reclaim timer run (idle partitions are reclaimed RECLAIM_DELAY_MS after the first became idle). */
const settled = () => vi.advanceTimersByTimeAsync(RECLAIM_DELAY_MS);

describe("idle partitions are reclaimed", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("10,000 distinct workspaces loaded with nothing to cache, read through handles and the object form leave no partition", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6 });
    for (let n = 0; n < 10_000; n++) {
      const id = wsId(n);
      expect((await cache.getOrLoad({ workspaceId: id, key: "k" }, () => undefined))._unsafeUnwrap()).toBeUndefined();
      const ws = cache.workspace(id)._unsafeUnwrap();
      expect((await ws.getOrLoad("k", () => undefined))._unsafeUnwrap()).toBeUndefined();
      expect(ws.get("k")._unsafeUnwrap()).toBeUndefined();
      expect(cache.get({ workspaceId: id, key: "k" })._unsafeUnwrap()).toBeUndefined();
      expect((await ws.getOrLoad("fails", () => Promise.reject(new Error("down"))))._unsafeUnwrapErr().type).toBe("LoaderFailed");
      // No timer ran during this loop: what waits for one stays bounded.
      expect(cache.core.partitions.size).toBeLessThanOrEqual(MAX_IDLE_WAITING);
    }
    await settled();
    expect(cache.core.partitions.size).toBe(0);
    expect(cache.stats()).toMatchObject({ bytes: 0, entries: 0, workspaces: [] });
  });

  it("a workspace whose last entry is deleted, expires or is evicted is reclaimed; its handle re-resolves", async () => {
    const clock = new ManualClock();
    // a keeps a floor of 100 bytes, so when the cache is full c (floor 0) is the one to lose entries.
    const budgetFor = (id: string) => (id === wsId(1) ? { floorBytes: 100 } : undefined);
    const cache = new TenantCache<string>({ maxBytes: 100, floorBytes: 0, sizeOf: () => 60, clock, budgetFor });
    const handle = (n: number) => cache.workspace(wsId(n))._unsafeUnwrap();
    const [a, b, c] = [handle(1), handle(2), handle(3)];
    a.set("k", "v");
    expect(a.delete("k")._unsafeUnwrap()).toBe(true);
    b.set("k", "v", { ttlMs: 10 });
    clock.advance(10);
    expect(b.get("k")._unsafeUnwrap()).toBeUndefined();
    c.set("k", "v");
    a.set("k", "v"); // the cache is full: c, the only one over its floor, loses its only entry
    expect(c.get("k")._unsafeUnwrap()).toBeUndefined();
    await settled();
    expect([...cache.core.partitions.keys()]).toEqual([wsId(1)]);
    // a's handle kept its (reclaimed) partition; entries written another way are still seen through it.
    expect(a.delete("k")._unsafeUnwrap()).toBe(true);
    await settled();
    expect(cache.core.partitions.size).toBe(0);
    cache.set({ workspaceId: wsId(1), key: "k2", value: "via the object form" });
    expect(a.get("k2")._unsafeUnwrap()).toBe("via the object form");
    expect(a.size).toEqual({ bytes: 60, entries: 1 });
  });

  it("a reclaimed workspace's counts reach the metrics sink first (loads and misses alike)", async () => {
    const seen: Record<string, number> = {};
    const cache = new TenantCache<string>({
      maxBytes: 1e6,
      metrics: { add: (id, name, v) => void (seen[`${id}/${name}`] = (seen[`${id}/${name}`] ?? 0) + v), observe: () => undefined },
    });
    await cache.getOrLoad({ workspaceId: wsId(1), key: "k" }, () => undefined);
    await settled();
    expect(cache.core.partitions.size).toBe(0);
    expect(seen).toEqual({ [`${wsId(1)}/cache_misses_total`]: 1, [`${wsId(1)}/cache_loads_total`]: 1 });
    cache.close();
  });

  it("a partition with a load in flight is kept (single-flight still holds)", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6 });
    const ws = cache.workspace(wsId(1))._unsafeUnwrap();
    let release!: (v: string) => void;
    let calls = 0;
    const loader = () => (calls++, new Promise<string>((r) => (release = r)));
    const first = ws.getOrLoad("k", loader);
    await settled();
    const second = ws.getOrLoad("k", loader);
    release("v");
    expect([(await first)._unsafeUnwrap(), (await second)._unsafeUnwrap(), calls]).toEqual(["v", "v", 1]);
    expect(ws.get("k")._unsafeUnwrap()).toBe("v");
  });
});
