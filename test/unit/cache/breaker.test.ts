import { err, ok, type Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { storeFailed, storeUnavailable } from "../../../src/core/errors.js";
import type { RedisCallError } from "../../../src/core/redis/runner.js";
import { CircuitBreaker } from "../../../src/cache/redis/breaker.js";
import { RedisTier } from "../../../src/cache/redis/tier.js";
import { deferred } from "./helpers.js";

describe("CircuitBreaker", () => {
  it("after the cooldown lets exactly one probe through until it succeeds or fails", () => {
    let now = 0;
    const breaker = new CircuitBreaker(2, 100, () => now);
    breaker.failure();
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect([breaker.allow(), breaker.open]).toEqual([false, true]);
    now = 100;
    expect(breaker.open).toBe(false); // reading the state claims no probe
    expect(breaker.allow()).toBe(true); // the probe
    expect([breaker.allow(), breaker.allow(), breaker.open]).toEqual([false, false, true]);
    breaker.failure(); // the probe failed: open for another cooldown
    expect(breaker.allow()).toBe(false);
    now = 199;
    expect(breaker.allow()).toBe(false);
    now = 200;
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(false);
    breaker.success(); // the probe succeeded: closed
    expect([breaker.allow(), breaker.allow(), breaker.open]).toEqual([true, true, false]);
  });
});

describe("RedisTier.guarded", () => {
  const tierWith = (breaker: CircuitBreaker) =>
    new RedisTier<string>(undefined as never, undefined as never, undefined as never, breaker, undefined as never, 1, 1, false);
  const down = (): Promise<Result<unknown, RedisCallError>> => Promise.resolve(err(storeUnavailable("down")));

  it("sends one probe after the cooldown; the calls meanwhile fail at once; its answer, even an error reply, closes the breaker", async () => {
    let now = 0;
    const breaker = new CircuitBreaker(1, 100, () => now);
    const tier = tierWith(breaker);
    await tier.guarded(down);
    now = 100;
    const probe = deferred<Result<unknown, RedisCallError>>();
    let sent = 0;
    const call = () => {
      sent++;
      return probe.promise;
    };
    const first = tier.guarded(call);
    const others = [tier.guarded(call), tier.guarded(call)];
    expect(sent).toBe(1);
    expect((await Promise.all(others)).map((r) => r.isErr() && r.error.type)).toEqual(["StoreUnavailable", "StoreUnavailable"]);
    probe.resolve(err(storeFailed("ERR a script error: Redis answered")));
    await first;
    expect(breaker.open).toBe(false);
    expect((await tier.guarded(() => Promise.resolve(ok("fine"))))._unsafeUnwrap()).toBe("fine");
  });
});
