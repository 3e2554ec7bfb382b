import calculateSlot from "cluster-key-slot";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { familyKeyPrefix, hashTagOf, redisKey } from "../../../src/core/redis/keys.js";
import { RedisRunner } from "../../../src/core/redis/runner.js";
import { defineScript } from "../../../src/core/redis/script.js";
import { parseWorkspaceId, type WorkspaceId } from "../../../src/core/workspace-id.js";

const id = (s: string) => parseWorkspaceId(s)._unsafeUnwrap() as WorkspaceId;
const parent = id("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01");
const child = id("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02");

describe("redis keys", () => {
  it("hash-tag the family root so a parent and its child share one cluster slot", () => {
    const parentKey = redisKey(parent, "quota", parent, "segments");
    const childKey = familyKeyPrefix({ workspaceId: child, parentWorkspaceId: parent }, "quota") + `${child}:segments`;
    expect(parentKey).toBe(`tk:{${parent}}:quota:${parent}:segments`);
    expect(hashTagOf(childKey)).toBe(parent);
    expect(calculateSlot(childKey)).toBe(calculateSlot(parentKey));
    // Without the shared tag these two would (almost surely) hash apart: the test can fail.
    expect(calculateSlot(`tk:${child}`)).not.toBe(calculateSlot(`tk:${parent}`));
  });

  it("hashTagOf follows the Redis rules for empty and unclosed tags", () => {
    expect(hashTagOf("a{}b")).toBe("a{}b");
    expect(hashTagOf("a{b")).toBe("a{b");
    expect(hashTagOf("plain")).toBe("plain");
  });
});

describe("lua scripts", () => {
  it("carry the SHA-1 Redis computes for their source", () => {
    // SHA1("return 1"), as `redis-cli SCRIPT LOAD "return 1"` prints it.
    expect(defineScript("one", "return 1").sha).toBe("e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  });
});

describe("RedisRunner construction", () => {
  it("refuses a client that replays in-flight commands after a reconnect, listing the fix", () => {
    const client = new Redis({ lazyConnect: true });
    expect(() => new RedisRunner(client)).toThrow(TypeError);
    expect(() => new RedisRunner(client)).toThrow(/autoResendUnfulfilledCommands: false/);
    expect(() => new RedisRunner(client, { acceptCommandReplay: true })).not.toThrow();
    client.disconnect();
  });

  it("rejects a bad timeout", () => {
    const client = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    expect(() => new RedisRunner(client, { timeoutMs: Number.NaN })).toThrow(/timeoutMs/);
    client.disconnect();
  });

  it("fails fast with a typed error when not connected, queueing nothing", async () => {
    const client = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    const runner = new RedisRunner(client);
    const result = await runner.runScript(defineScript("one", "return 1"), [], []);
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
    expect(client.status).toBe("wait");
    client.disconnect();
  });
});
