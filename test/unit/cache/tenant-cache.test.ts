import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantCache } from "../../../src/cache/index.js";
import { deferred, wsId } from "./helpers.js";

const A = wsId(1);
const B = wsId(2);
const handle = <V>(cache: TenantCache<V>, id = A) => cache.workspace(id)._unsafeUnwrap();

describe("partitions", () => {
  it("get/set/delete through a handle and the object form see the same entries", () => {
    const cache = new TenantCache<string>({ maxBytes: 1_000_000 });
    const a = handle(cache);
    expect(a.set("k", "v").isOk()).toBe(true);
    expect(a.get("k")._unsafeUnwrap()).toBe("v");
    expect(cache.get({ workspaceId: A, key: "k" })._unsafeUnwrap()).toBe("v");
    expect(cache.get({ workspaceId: A.toUpperCase(), key: "k" })._unsafeUnwrap()).toBe("v");
    expect(cache.delete({ workspaceId: A, key: "k" })._unsafeUnwrap()).toBe(true);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined();
    expect(a.delete("k")._unsafeUnwrap()).toBe(false);
  });

  it("never returns another workspace's entry, whatever the key strings", () => {
    const cache = new TenantCache<string>({ maxBytes: 1_000_000 });
    const tricky = ["k", `${A}:k`, `${B}:k`, "", ":", "tk:{x}:cache:k", "\u0000"];
    for (const key of tricky) handle(cache, A).set(key, `A/${key}`);
    for (const key of tricky) {
      expect(handle(cache, B).get(key)._unsafeUnwrap()).toBeUndefined();
      expect(cache.get({ workspaceId: B, key })._unsafeUnwrap()).toBeUndefined();
      expect(handle(cache, A).get(key)._unsafeUnwrap()).toBe(`A/${key}`);
    }
  });

  it("clear drops one workspace only, and handles keep working afterwards", () => {
    const cache = new TenantCache<number>({ maxBytes: 1_000_000 });
    const a = handle(cache, A);
    const b = handle(cache, B);
    for (let i = 0; i < 1_000; i++) {
      a.set(`k${i}`, i);
      b.set(`k${i}`, i);
    }
    const before = cache.stats().bytes;
    expect(a.clear().isOk()).toBe(true);
    expect(a.get("k1")._unsafeUnwrap()).toBeUndefined();
    expect(b.get("k1")._unsafeUnwrap()).toBe(1);
    expect(cache.stats().bytes).toBe(before / 2);
    // A second handle created before the clear sees writes made after it through another handle.
    const a2 = handle(cache, A);
    a.set("new", 7);
    expect(a2.get("new")._unsafeUnwrap()).toBe(7);
    expect(cache.get({ workspaceId: A, key: "new" })._unsafeUnwrap()).toBe(7);
    a2.clear();
    expect(a.get("new")._unsafeUnwrap()).toBeUndefined();
  });
});

describe("bad input is a typed Err and leaves the cache unchanged", () => {
  const cache = new TenantCache<unknown>({ maxBytes: 10_000, maxEntryBytes: 1_000, maxKeyLength: 16 });
  it("malformed workspace ids", async () => {
    for (const id of ["", "nope", ` ${A}`, null, 42, undefined]) {
      expect(cache.workspace(id as string)._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
      expect(cache.get({ workspaceId: id as string, key: "k" })._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
      expect(cache.set({ workspaceId: id as string, key: "k", value: 1 })._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
      expect((await cache.getOrLoad({ workspaceId: id as string, key: "k" }, () => 1))._unsafeUnwrapErr().type).toBe(
        "InvalidWorkspaceId",
      );
    }
  });
  it("non-string and over-long keys", async () => {
    const a = handle(cache);
    for (const key of [1, null, undefined, {}, Symbol("s"), "x".repeat(17)]) {
      expect(a.get(key as string)._unsafeUnwrapErr().type).toBe("InvalidKey");
      expect(a.set(key as string, 1)._unsafeUnwrapErr().type).toBe("InvalidKey");
      expect(a.delete(key as string)._unsafeUnwrapErr().type).toBe("InvalidKey");
      expect((await a.getOrLoad(key as string, () => 1))._unsafeUnwrapErr().type).toBe("InvalidKey");
    }
    expect(cache.stats().entries).toBe(0);
  });
  it("bad keys are rejected even when the workspace holds look-alike keys (hits skip the key check)", () => {
    const c = new TenantCache<unknown>({ maxBytes: 10_000, maxKeyLength: 16 });
    const a = handle(c);
    a.set("1", "one");
    a.set("null", "n");
    a.set("x".repeat(16), "max");
    for (const key of [1, null, {}, "x".repeat(17)]) {
      expect(a.get(key as string)._unsafeUnwrapErr().type).toBe("InvalidKey");
      expect(c.get({ workspaceId: A, key: key as string })._unsafeUnwrapErr().type).toBe("InvalidKey");
    }
    expect(a.get("x".repeat(16))._unsafeUnwrap()).toBe("max");
    const stats = c.stats().workspaces[0];
    expect([stats?.hits, stats?.misses]).toEqual([1, 0]);
  });
  it("size functions that throw or return bad numbers, and oversized values", () => {
    const bad = [NaN, -1, Infinity, "12" as unknown as number];
    for (const size of bad) {
      const c = new TenantCache<string>({ maxBytes: 10_000, sizeOf: () => size });
      const a = handle(c);
      expect(a.set("k", "v")._unsafeUnwrapErr().type).toBe("InvalidSize");
      expect(c.stats().entries).toBe(0);
    }
    const throwing = new TenantCache<string>({ maxBytes: 10_000, sizeOf: () => { throw new Error("boom"); } });
    expect(handle(throwing).set("k", "v")._unsafeUnwrapErr()).toMatchObject({ type: "InvalidSize", workspaceId: A });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(handle(cache).set("cyc", cyclic)._unsafeUnwrapErr().type).toBe("InvalidSize");
    // An existing value survives a failed overwrite.
    const a = handle(cache);
    a.set("keep", "old");
    expect(a.set("keep", "x".repeat(2_000))._unsafeUnwrapErr().type).toBe("EntryTooLarge");
    expect(a.get("keep")._unsafeUnwrap()).toBe("old");
  });
  it("loaders that throw, reject or return unsizable values", async () => {
    const a = handle(cache);
    const thrown = await a.getOrLoad("t", () => {
      throw new Error("sync boom");
    });
    expect(thrown._unsafeUnwrapErr()).toMatchObject({ type: "LoaderFailed", retryable: true });
    const rejected = await a.getOrLoad("r", () => Promise.reject(new Error("async boom")));
    expect(rejected._unsafeUnwrapErr().type).toBe("LoaderFailed");
    const huge = await a.getOrLoad("h", () => "x".repeat(5_000));
    expect(huge._unsafeUnwrapErr().type).toBe("EntryTooLarge");
    expect(a.get("t")._unsafeUnwrap()).toBeUndefined();
    // The next call loads again (failures are not cached).
    expect((await a.getOrLoad("t", () => "ok"))._unsafeUnwrap()).toBe("ok");
  });
  it("invalid options throw one TypeError listing every problem", () => {
    expect(() => new TenantCache({ maxBytes: -1, ttlJitter: 2, graceMs: NaN })).toThrow(/maxBytes.*ttlJitter.*graceMs/);
  });
});

describe("freshness", () => {
  it("TTL with jitter: entries expire between (1 - jitter)·ttl and ttl", () => {
    const clock = new ManualClock();
    let r = 0;
    const cache = new TenantCache<number>({ maxBytes: 1e6, ttlMs: 1_000, ttlJitter: 0.5, clock, random: () => r });
    const a = handle(cache);
    r = 0.999; // shortest TTL ≈ 500.5 ms
    a.set("short", 1);
    r = 0; // full TTL
    a.set("long", 2);
    clock.advance(499);
    expect(a.get("short")._unsafeUnwrap()).toBe(1);
    clock.advance(2);
    expect(a.get("short")._unsafeUnwrap()).toBeUndefined();
    expect(a.get("long")._unsafeUnwrap()).toBe(2);
    clock.advance(499);
    expect(a.get("long")._unsafeUnwrap()).toBeUndefined();
  });

  it("negative caching: 'not found' is cached for negativeTtlMs", async () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 10_000, negativeTtlMs: 100, ttlJitter: 0, clock });
    const a = handle(cache);
    let calls = 0;
    const loader = () => {
      calls++;
      return undefined;
    };
    expect((await a.getOrLoad("missing", loader))._unsafeUnwrap()).toBeUndefined();
    expect((await a.getOrLoad("missing", loader))._unsafeUnwrap()).toBeUndefined();
    expect(calls).toBe(1);
    clock.advance(101);
    await a.getOrLoad("missing", loader);
    expect(calls).toBe(2);
  });

  it("stale-while-revalidate: the old value is served during the grace period while one refresh runs", async () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 100, graceMs: 1_000, ttlJitter: 0, clock });
    const a = handle(cache);
    a.set("k", "v1");
    clock.advance(150);
    const refresh = deferred<string>();
    let calls = 0;
    const loader = () => {
      calls++;
      return refresh.promise;
    };
    expect((await a.getOrLoad("k", loader))._unsafeUnwrap()).toBe("v1");
    expect((await a.getOrLoad("k", loader))._unsafeUnwrap()).toBe("v1");
    expect(calls).toBe(1);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined(); // plain get returns only fresh values
    refresh.resolve("v2");
    await new Promise((r) => setTimeout(r, 0));
    expect(a.get("k")._unsafeUnwrap()).toBe("v2");
    clock.advance(100 + 1_001);
    expect((await a.getOrLoad("k", () => "v3"))._unsafeUnwrap()).toBe("v3"); // past grace: a real miss
  });

  it("fenced fills: a load that started before delete, set or clear never writes its value back", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6 });
    const a = handle(cache);
    for (const invalidate of [() => a.delete("k"), () => a.clear(), () => a.set("k", "new")]) {
      a.delete("k");
      const load = deferred<string>();
      const pending = a.getOrLoad("k", () => load.promise);
      invalidate();
      const after = a.get("k")._unsafeUnwrap();
      load.resolve("old");
      expect((await pending)._unsafeUnwrap()).toBe("old");
      expect(a.get("k")._unsafeUnwrap()).toBe(after);
      expect(a.get("k")._unsafeUnwrap()).not.toBe("old");
    }
  });

  it("single-flight: concurrent misses share one load; the next miss after a failure loads again", async () => {
    const cache = new TenantCache<number>({ maxBytes: 1e6 });
    const a = handle(cache);
    const load = deferred<number>();
    let calls = 0;
    const results = Array.from({ length: 100 }, () => a.getOrLoad("k", () => (calls++, load.promise)));
    load.resolve(42);
    expect((await Promise.all(results)).map((r) => r._unsafeUnwrap())).toEqual(Array(100).fill(42));
    expect(calls).toBe(1);
    expect(cache.stats().workspaces[0]).toMatchObject({ loads: 1, misses: 100 });
  });
});

describe("budgets", () => {
  const sizeOf = () => 100;
  it("never exceeds maxBytes and respects a per-workspace cap from the plan", () => {
    const cache = new TenantCache<number>({
      maxBytes: 10_000,
      floorBytes: 1_000,
      sizeOf,
      budgetFor: (id) => (id === B ? { maxBytes: 500 } : undefined),
    });
    const b = handle(cache, B);
    for (let i = 0; i < 50; i++) b.set(`k${i}`, i);
    expect(b.size).toEqual({ bytes: 500, entries: 5 });
    const a = handle(cache, A);
    for (let i = 0; i < 500; i++) a.set(`k${i}`, i);
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
  });

  it("a workspace at its cap loses its least recently used entries, each counted once (replacements too)", () => {
    const cache = new TenantCache<string>({ maxBytes: 10_000, maxWorkspaceBytes: 300, sizeOf: (v) => v.length });
    const a = handle(cache, A);
    a.set("k1", "x".repeat(100));
    a.set("k2", "x".repeat(100));
    a.set("k3", "x".repeat(100));
    a.get("k1");
    a.set("k2", "y".repeat(100)); // a replacement of equal size evicts nothing
    expect(cache.stats().evictions).toBe(0);
    a.set("k4", "x".repeat(100)); // an addition: the least recently used (k3) goes
    expect(a.get("k3")._unsafeUnwrap()).toBeUndefined();
    a.set("k1", "z".repeat(250)); // a growing replacement: the two least recently used (k2, k4) go
    expect(a.get("k2")._unsafeUnwrap()).toBeUndefined();
    expect(a.get("k4")._unsafeUnwrap()).toBeUndefined();
    expect(a.get("k1")._unsafeUnwrap()).toBe("z".repeat(250));
    expect(a.size).toEqual({ bytes: 250, entries: 1 });
    const stats = cache.stats();
    expect(stats.evictions).toBe(3);
    expect(stats.bytes).toBe(250);
    expect(stats.workspaces.find((w) => w.workspaceId === A)?.evictions).toBe(3);
  });

  it("a noisy workspace evicts its own entries first; a workspace under its floor keeps everything", () => {
    const cache = new TenantCache<number>({ maxBytes: 10_000, floorBytes: 2_000, sizeOf });
    const quiet = handle(cache, A);
    const noisy = handle(cache, B);
    for (let i = 0; i < 15; i++) quiet.set(`q${i}`, i); // 1,500 bytes: under its floor
    for (let i = 0; i < 10_000; i++) noisy.set(`n${i}`, i);
    for (let i = 0; i < 15; i++) expect(quiet.get(`q${i}`)._unsafeUnwrap()).toBe(i);
    const stats = cache.stats();
    expect(stats.bytes).toBe(10_000);
    expect(stats.workspaces.find((w) => w.workspaceId === A)?.evictions).toBe(0);
    expect(stats.workspaces.find((w) => w.workspaceId === B)?.evictions).toBe(10_000 - 85);
  });

  it("a workspace under its floor takes room from the one furthest over its floor", () => {
    const cache = new TenantCache<number>({ maxBytes: 10_000, floorBytes: 3_000, sizeOf });
    const noisy = handle(cache, B);
    for (let i = 0; i < 200; i++) noisy.set(`n${i}`, i);
    expect(noisy.size.bytes).toBe(10_000);
    const quiet = handle(cache, A);
    for (let i = 0; i < 30; i++) quiet.set(`q${i}`, i);
    expect(quiet.size.bytes).toBe(3_000);
    expect(noisy.size.bytes).toBe(7_000);
  });

  it("between workspaces over their floors, the one earning no hits (a scanner) loses its entries first", () => {
    const cache = new TenantCache<number>({ maxBytes: 10_000, floorBytes: 1_000, sizeOf });
    const quiet = handle(cache, A);
    const scanner = handle(cache, B);
    for (let i = 0; i < 40; i++) quiet.set(`q${i}`, i); // 4,000 bytes: over its floor
    for (let i = 0; i < 60; i++) scanner.set(`s${i}`, i); // 6,000 bytes: the cache is full
    for (let round = 0; round < 5; round++) for (let i = 0; i < 40; i++) quiet.get(`q${i}`);
    // The quiet workspace grows its working set to 60 entries; every eviction hits the scanner.
    for (let i = 40; i < 60; i++) {
      quiet.set(`q${i}`, i);
      quiet.get(`q${i}`);
    }
    for (let i = 0; i < 200; i++) scanner.set(`s${60 + i}`, i); // the scanner keeps scanning: it evicts itself
    for (let i = 0; i < 60; i++) expect(quiet.get(`q${i}`)._unsafeUnwrap()).toBe(i);
    expect(quiet.size.bytes).toBe(6_000);
    expect(scanner.size.bytes).toBe(4_000);
  });

  it("reports hits, misses, evictions and bytes to the metrics sink", () => {
    const seen: Record<string, number> = {};
    const cache = new TenantCache<number>({
      maxBytes: 1_000,
      sizeOf,
      metrics: {
        add: (id, name, v) => void (seen[`${id}/${name}`] = (seen[`${id}/${name}`] ?? 0) + v),
        observe: (id, name, v) => void (seen[`${id}/${name}`] = v),
      },
    });
    const a = handle(cache);
    for (let i = 0; i < 12; i++) a.set(`k${i}`, i);
    a.get("k11");
    a.get("k0");
    cache.close();
    expect(seen).toMatchObject({
      [`${A}/cache_hits_total`]: 1,
      [`${A}/cache_misses_total`]: 1,
      [`${A}/cache_evictions_total`]: 2,
      [`${A}/cache_bytes`]: 1_000,
    });
  });
});
