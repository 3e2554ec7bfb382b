import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ManualClock, systemClock } from "../../../src/core/clock.js";
import { TenantCache } from "../../../src/cache/index.js";
import { makeTime } from "../../../src/cache/now.js";
import { wsId } from "./helpers.js";

// New entries read `time.t` (a hit reads no time at all); these tests pin
// down when it may be trusted. Fake timers drive both Date.now and the reset timer.
describe("CacheTime", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("system clock: t is untrusted (Infinity) until read, then cached for one millisecond", () => {
    const time = makeTime(undefined);
    expect(time.t).toBe(Infinity);
    expect(time.now()).toBe(1_000_000);
    expect(time.t).toBe(1_000_000);
    vi.advanceTimersByTime(1);
    expect(time.t).toBe(Infinity);
    expect(time.now()).toBe(1_000_001);
    expect(makeTime(systemClock).t).toBe(Infinity);
  });

  it("an injected clock is read on every call and t is never trusted", () => {
    const clock = new ManualClock(5);
    const time = makeTime(clock);
    expect(time.now()).toBe(5);
    expect(time.t).toBe(Infinity);
    clock.advance(3);
    expect(time.now()).toBe(8);
    expect(time.t).toBe(Infinity);
  });

  it("system clock: a handle stops serving an entry once its TTL passes, and counts hits and misses", () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6, ttlMs: 100, ttlJitter: 0 });
    const a = cache.workspace(wsId(1))._unsafeUnwrap();
    a.set("k", "v");
    a.set("forever", "f", { ttlMs: 0 });
    expect(a.get("k")._unsafeUnwrap()).toBe("v");
    expect(a.get("k")._unsafeUnwrap()).toBe("v"); // served on the cached time
    vi.advanceTimersByTime(99);
    expect(a.get("k")._unsafeUnwrap()).toBe("v");
    vi.advanceTimersByTime(1);
    expect(a.get("k")._unsafeUnwrap()).toBeUndefined();
    expect(a.get("forever")._unsafeUnwrap()).toBe("f");
    vi.advanceTimersByTime(10_000);
    expect(a.get("forever")._unsafeUnwrap()).toBe("f");
    const stats = cache.stats().workspaces.find((w) => w.workspaceId === wsId(1));
    expect(stats?.hits).toBe(5);
    expect(stats?.misses).toBe(1);
  });
});
