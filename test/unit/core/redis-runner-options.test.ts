import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisRunner } from "../../../src/core/redis/runner.js";
import { defineScript } from "../../../src/core/redis/script.js";

describe("RedisRunner timeouts (no server: a lazy client)", () => {
  const client = () => new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });

  it("refuses a runner timeout Node's timers cannot wait (it would fire after 1 ms)", () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3e9]) {
      expect(() => new RedisRunner(client(), { timeoutMs })).toThrow(/timeoutMs must be a positive number up to 2147483647/);
    }
    expect(new RedisRunner(client(), { timeoutMs: 2 ** 31 - 1 }).timeoutMs).toBe(2 ** 31 - 1);
  });

  it("answers a bad per-call timeout with a typed error before sending anything", async () => {
    const runner = new RedisRunner(client());
    const script = defineScript("test.noop", "return 1");
    for (const timeoutMs of [0, -5, Number.NaN, 3e9]) {
      const r = await runner.runScript(script, [], [], { timeoutMs });
      expect(r._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed" });
      expect(r._unsafeUnwrapErr().message).toMatch(/timeoutMs must be a positive number/);
    }
    // A valid one reaches the connection check (the lazy client is not connected).
    expect((await runner.runScript(script, [], [], { timeoutMs: 20 }))._unsafeUnwrapErr().type).toBe("StoreUnavailable");
  });
});
