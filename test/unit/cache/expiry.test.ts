import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantCache } from "../../../src/cache/index.js";
import { DueQueue } from "../../../src/cache/expiry.js";
import { wsId } from "./helpers.js";

// Entries are taken out of the LRU when they expire (so a hit needs no time
// check); these tests pin down that nothing expired is ever served as fresh,
// that stale-while-revalidate still has its grace period, and that the
// bookkeeping (bytes, due records, the schedule) stays exact and bounded.

const partitionOf = (cache: TenantCache<string>, n: number) => {
  const p = cache.core.partitions.get(wsId(n));
  if (p === undefined) throw new Error("no partition");
  return p;
};

describe("DueQueue", () => {
  it("pops records in order of their instants", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const queue = new DueQueue();
        const model: number[] = [];
        for (const [at, pop] of ops) {
          if (pop && queue.size > 0) {
            model.sort((a, b) => a - b);
            const expected = model.shift();
            expect(queue.next).toBe(expected);
            expect(queue.pop()).toBe(`k${expected}`);
          } else {
            queue.push(at, `k${at}`);
            model.push(at);
          }
        }
        model.sort((a, b) => a - b);
        for (const expected of model) expect(queue.pop()).toBe(`k${expected}`);
        expect(queue.next).toBe(Infinity);
      }),
    );
  });
});

describe("model-based: TTL, grace and bytes with an injected clock", () => {
  interface Held {
    value: string;
    expiresAt: number;
  }
  const GRACE = 40;
  const KEYS = ["a", "b", "c", "d", "e", ""];

  it("a read never returns an expired value; getOrLoad serves stale only within grace; bytes match the entries held", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(99), fc.nat(2), fc.nat(KEYS.length - 1), fc.nat(120)), { minLength: 2_000, maxLength: 2_000 }),
        async (ops) => {
          const clock = new ManualClock(1_000);
          const cache = new TenantCache<string>({ maxBytes: 1e9, ttlMs: 50, ttlJitter: 0, graceMs: GRACE, clock, sizeOf: (v) => v.length });
          const handles = [1, 2, 3].map((n) => cache.workspace(wsId(n))._unsafeUnwrap());
          const model = handles.map(() => new Map<string, Held>());
          let version = 0;
          for (const [kind, w, k, amount] of ops) {
            const key = KEYS[k] as string;
            const h = handles[w] as (typeof handles)[number];
            const m = model[w] as Map<string, Held>;
            const now = clock.now();
            const held = m.get(key);
            if (kind < 15) clock.advance(amount);
            else if (kind < 45) {
              const value = `${w}/${key}/${version++}`;
              const ttlMs = amount % 3 === 0 ? 0 : amount; // 0: no expiry
              h.set(key, value, { ttlMs });
              m.set(key, { value, expiresAt: ttlMs > 0 ? now + ttlMs : Infinity });
            } else if (kind < 75) {
              const fresh = held !== undefined && held.expiresAt > now ? held.value : undefined;
              const got = (w === 0 ? cache.get({ workspaceId: wsId(1), key }) : h.get(key))._unsafeUnwrap();
              if (got !== fresh) throw new Error(`get ${w}/${key} at ${now}: got ${got}, fresh value ${fresh}`);
            } else if (kind < 85) {
              const deleted = h.delete(key)._unsafeUnwrap();
              const wasHeld = held !== undefined && now < held.expiresAt + GRACE;
              if (deleted !== wasHeld) throw new Error(`delete ${w}/${key} at ${now}: ${deleted}, model ${wasHeld}`);
              m.delete(key);
            } else if (kind < 88) {
              h.clear();
              m.clear();
            } else {
              // getOrLoad with a loader that answers at once: fresh → cached value; within grace → stale value
              // and one background refresh; otherwise the loaded value.
              const loaded = `${w}/${key}/load${version++}`;
              const got = (await h.getOrLoad(key, () => loaded))._unsafeUnwrap();
              let expected = loaded;
              if (held !== undefined && held.expiresAt > now) expected = held.value;
              else if (held !== undefined && now < held.expiresAt + GRACE) {
                expected = held.value;
                await new Promise((r) => setImmediate(r)); // the background refresh writes
              }
              if (got !== expected) throw new Error(`getOrLoad ${w}/${key} at ${now}: got ${got}, expected ${expected}`);
              if (expected === loaded || (held !== undefined && held.expiresAt <= now)) m.set(key, { value: loaded, expiresAt: now + 50 });
            }
            // Entries held = fresh ones plus those within grace; the cache expires due ones before a read.
            handles[0]?.get("probe");
            const t = clock.now();
            let bytes = 0;
            let entries = 0;
            for (const [i, mm] of model.entries()) {
              for (const [k2, e] of mm) {
                if (t >= e.expiresAt + GRACE) mm.delete(k2);
                else {
                  bytes += Math.max(1, e.value.length);
                  entries++;
                }
              }
              const stats = cache.stats().workspaces.find((s) => s.workspaceId === wsId(i + 1));
              const wsBytes = [...mm.values()].reduce((s, e) => s + Math.max(1, e.value.length), 0);
              if ((stats?.bytes ?? 0) !== wsBytes) throw new Error(`workspace ${i} holds ${stats?.bytes} bytes, model ${wsBytes}`);
            }
            const stats = cache.stats();
            if (stats.bytes !== bytes || stats.entries !== entries) {
              throw new Error(`cache holds ${stats.bytes} bytes / ${stats.entries} entries, model ${bytes} / ${entries}`);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("system clock (fake timers drive Date.now and the expiry timer)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the timer takes an entry out of the LRU when it expires; it waits as stale for its grace period, then goes", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 100, ttlJitter: 0, graceMs: 50, sizeOf: () => 10 });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("k", "v");
    vi.advanceTimersByTime(99);
    expect(partitionOf(cache, 1).lru.has("k")).toBe(true);
    vi.advanceTimersByTime(1);
    expect(partitionOf(cache, 1).lru.has("k")).toBe(false); // expired with no read at all
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined();
    expect(cache.stats()).toMatchObject({ bytes: 10, entries: 1 }); // stale, still held
    let calls = 0;
    expect((await a.getOrLoad("k", () => (calls++, new Promise<string>(() => {}))))._unsafeUnwrap()).toBe("v");
    expect(calls).toBe(1); // one background refresh
    vi.advanceTimersByTime(50);
    expect(cache.stats()).toMatchObject({ bytes: 0, entries: 0 });
    expect(cache.core.expiry.next).toBe(Infinity);
  });

  it("entries expire on time in any order of TTLs, each at its own instant", () => {
    vi.useFakeTimers({ now: 5_000 });
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlJitter: 0 });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    const ttls = [300, 20, 1_500, 1, 20, 999, 2_500];
    ttls.forEach((ttlMs, i) => a.set(`k${i}`, `v${i}`, { ttlMs }));
    for (let t = 0; t <= 2_600; t++) {
      ttls.forEach((ttlMs, i) => {
        const got = a.get(`k${i}`)._unsafeUnwrap();
        if (got !== (t < ttlMs ? `v${i}` : undefined)) throw new Error(`k${i} (ttl ${ttlMs}) at +${t}: ${got}`);
      });
      vi.advanceTimersByTime(1);
    }
  });
});

describe("bookkeeping", () => {
  it("overwriting one key keeps its due records bounded", () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 60_000, clock });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    for (let i = 0; i < 10_000; i++) a.set("k", `v${i}`);
    expect(partitionOf(cache, 1).due?.size).toBeLessThanOrEqual(2 * 1 + 33);
    clock.advance(60_000);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
  });

  it("a cleared workspace leaves nothing in the schedule", () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 100, graceMs: 100, clock });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("k", "v");
    clock.advance(150);
    a.get("k"); // now stale
    a.clear();
    expect(cache.core.expiry.next).toBe(Infinity);
    expect(cache.stats()).toMatchObject({ bytes: 0, entries: 0 });
  });

  it("stale entries are the first to go when room is needed, and count as evictions", () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 30, floorBytes: 0, ttlMs: 100, ttlJitter: 0, graceMs: 1_000, clock, sizeOf: () => 10 });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("old", "o");
    clock.advance(50);
    a.set("x", "x");
    a.set("y", "y");
    clock.advance(60); // "old" expired: stale, still 10 bytes
    a.get("x");
    expect(cache.stats()).toMatchObject({ bytes: 30, entries: 3 });
    a.set("z", "z"); // needs room: the stale entry goes, not the least recently used fresh one
    expect(a.get("x")._unsafeUnwrap()).toBe("x");
    expect(a.get("y")._unsafeUnwrap()).toBe("y");
    expect(a.get("z")._unsafeUnwrap()).toBe("z");
    expect(cache.stats()).toMatchObject({ bytes: 30, entries: 3, evictions: 1 });
  });

  it("replacing a key near the cap keeps stale entries the replacement does not need the room of", () => {
    const clock = new ManualClock();
    const sizeOf = (v: string) => v.length;
    const cache = new TenantCache<string>({ maxBytes: 100, floorBytes: 0, ttlMs: 100, ttlJitter: 0, graceMs: 1_000, clock, sizeOf });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("y", "y".repeat(30));
    clock.advance(50);
    a.set("x", "x".repeat(60));
    clock.advance(60); // "y" expired: stale, still 30 bytes; 90 bytes held
    a.get("x");
    a.set("x", "z".repeat(20)); // a smaller replacement: nothing needs to go
    expect(cache.stats()).toMatchObject({ bytes: 50, entries: 2, evictions: 0 });
    a.set("x", "w".repeat(70)); // the same 70-byte total as the cap allows: still nothing
    expect(cache.stats()).toMatchObject({ bytes: 100, entries: 2, evictions: 0 });
    a.set("x", "v".repeat(71)); // one byte too many: now the stale entry goes, and only it
    expect(a.get("x")._unsafeUnwrap()).toBe("v".repeat(71));
    expect(cache.stats()).toMatchObject({ bytes: 71, entries: 1, evictions: 1 });
  });

  it("delete and set drop a stale entry: no stale value after an invalidation", async () => {
    const clock = new ManualClock();
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 100, ttlJitter: 0, graceMs: 1_000, clock });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("k", "old");
    clock.advance(100);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined(); // expired: now stale
    expect(cache.stats().entries).toBe(1);
    expect(a.delete("k")._unsafeUnwrap()).toBe(true);
    expect((await a.getOrLoad("k", () => "loaded"))._unsafeUnwrap()).toBe("loaded");
    clock.advance(100);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined(); // stale again
    a.set("k", "new", { ttlMs: 0 });
    expect((await a.getOrLoad("k", () => "loaded again"))._unsafeUnwrap()).toBe("new");
    expect(cache.stats().entries).toBe(1);
  });
});
