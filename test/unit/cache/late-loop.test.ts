import { describe, expect, it } from "vitest";
import { TenantCache } from "../../../src/cache/index.js";
import { wsId } from "./helpers.js";

// Entries leave the LRU on a timer, which cannot run while the event loop is
// blocked. getOrLoad must not trust the LRU (or a cached clock reading) for
// freshness: these tests block the loop with a busy-wait on the system clock
// past an entry's TTL and call getOrLoad before any timer could run.

/** Blocks the event loop until the system clock is past `t`. */
const blockUntilPast = (t: number): void => {
  while (Date.now() <= t) {
    // busy-wait: no timer runs meanwhile
  }
};

const A = wsId(1);

describe("getOrLoad when the event loop is late", () => {
  it("reloads an entry whose TTL passed while the loop was blocked (handle and object form)", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 20, ttlJitter: 0 });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("k", "old");
    cache.set({ workspaceId: A, key: "o", value: "old" });
    blockUntilPast(Date.now() + 20);
    expect((await ws.getOrLoad("k", () => "new"))._unsafeUnwrap()).toBe("new");
    expect((await cache.getOrLoad({ workspaceId: A, key: "o" }, () => "new"))._unsafeUnwrap()).toBe("new");
    expect(ws.get("k")._unsafeUnwrap()).toBe("new");
  });

  it("serves it as stale (with one background refresh) only within its grace period", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 20, ttlJitter: 0, graceMs: 60_000 });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("k", "old");
    blockUntilPast(Date.now() + 20);
    let loads = 0;
    expect((await ws.getOrLoad("k", () => (loads++, "new")))._unsafeUnwrap()).toBe("old");
    expect(loads).toBe(1);
    expect(cache.stats().workspaces[0]).toMatchObject({ staleHits: 1, hits: 0 });
    await new Promise((r) => setImmediate(r)); // the refresh writes
    expect((await ws.getOrLoad("k", () => "other"))._unsafeUnwrap()).toBe("new");
  });

  it("reloads once the grace period too has passed while the loop was blocked", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 20, ttlJitter: 0, graceMs: 20 });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("k", "old");
    blockUntilPast(Date.now() + 40);
    expect((await ws.getOrLoad("k", () => "new"))._unsafeUnwrap()).toBe("new");
  });

  it("checks the grace period of an entry already stale against the clock, not a reading cached before the block", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 10, ttlJitter: 0, graceMs: 300 });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("k", "old");
    const partition = cache.core.partitions.get(A);
    // Let the expiry timer move it out of the LRU into the stale entries.
    while (partition?.stale?.has("k") !== true) await new Promise((r) => setTimeout(r, 1));
    const staleUntil = (partition.stale.get("k")?.entry.expiresAt ?? 0) + 300;
    ws.set("other", "x"); // reads (and caches) the time just before the block
    blockUntilPast(staleUntil);
    expect((await ws.getOrLoad("k", () => "new"))._unsafeUnwrap()).toBe("new");
  });
});

describe("a fill after the event loop was blocked", () => {
  it("is stored with its TTL counted from the clock, not from a reading cached before the block (one loader call, not one per getOrLoad)", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 200, ttlJitter: 0 });
    const ws = cache.workspace(A)._unsafeUnwrap();
    ws.set("other", "x"); // reads (and caches) the time just before the block
    blockUntilPast(Date.now() + 400);
    let calls = 0;
    for (let i = 0; i < 5; i++) expect((await ws.getOrLoad("k", () => (calls++, "v")))._unsafeUnwrap()).toBe("v");
    for (let i = 0; i < 5; i++) expect((await cache.getOrLoad({ workspaceId: A, key: "o" }, () => (calls++, "v")))._unsafeUnwrap()).toBe("v");
    expect(calls).toBe(2);
    expect(ws.get("k")._unsafeUnwrap()).toBe("v");
  });
});
