import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { writeScript } from "../../../src/cache/redis/scripts.js";
import { redisKeyPrefix } from "../../../src/core/redis/keys.js";
import { deferred } from "../../unit/cache/helpers.js";
import { countCommands, eventually, freshChannel, freshWorkspace, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;

// The local tier must never keep a value that Redis, or an invalidation that
// reached this node, has already superseded.
describe("the local tier keeps no superseded value (real Redis 7)", () => {
  let a: TestNode<string>;
  let b: TestNode<string>;
  beforeAll(async () => {
    const options = { channel: freshChannel(), heartbeatMs: 200, ttlMs: 60_000, timeoutMs: 1_000 };
    [a, b] = await Promise.all([startNode<string>(url(), options), startNode<string>(url(), options)]);
    await eventually(() => [a, b].every((n) => n.cache.stats().peers === 1));
    await a.cache.set({ workspaceId: freshWorkspace(), key: "warm-up", value: "x" }); // loads the write script (EVALSHA from now on)
  });
  afterAll(async () => {
    await Promise.all([a, b].map((n) => n.close()));
  });

  it("a set whose reply arrives after another node's delete was applied here does not keep its older value", async () => {
    const w = freshWorkspace();
    // a's write reaches Redis at once; its reply is held until b's delete (later in Redis) has been applied on a.
    const written = deferred<void>();
    const release = deferred<void>();
    const evalsha = a.client.evalsha.bind(a.client);
    a.client.evalsha = ((sha: string, ...rest: unknown[]) => {
      const reply = (evalsha as (...args: unknown[]) => Promise<unknown>)(sha, ...rest);
      if (sha !== writeScript.sha) return reply;
      return reply.then(async (value) => {
        written.resolve();
        await release.promise;
        return value;
      });
    }) as typeof a.client.evalsha;
    try {
      const setting = a.cache.set({ workspaceId: w, key: "k", value: "older" });
      await written.promise;
      // Acknowledged: resolves once a has applied it, while a's set is still waiting for its reply.
      expect((await b.cache.delete({ workspaceId: w, key: "k", acknowledged: true })).isOk()).toBe(true);
      release.resolve();
      expect((await setting).isOk()).toBe(true);
    } finally {
      a.client.evalsha = evalsha;
      release.resolve();
    }
    expect((await a.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBeUndefined();
    expect((await b.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBeUndefined();
  });

  it("a set nothing interfered with still keeps its value locally (no round trip to read it back)", async () => {
    const w = freshWorkspace();
    expect((await a.cache.set({ workspaceId: w, key: "k", value: "v" })).isOk()).toBe(true);
    const counted = countCommands(a.client);
    expect((await a.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("v");
    expect(counted.names).toEqual([]);
  });

  it("a fill Redis refused (the key was invalidated there after our read) is not kept locally either", async () => {
    const w = freshWorkspace();
    const versionKey = `${redisKeyPrefix(w, "cache")}v:1:k`;
    const loaded = await a.cache.getOrLoad({ workspaceId: w, key: "k" }, async () => {
      // Another node's delete whose message has not reached a: only Redis knows of it.
      await b.client.incr(versionKey);
      await b.client.pexpire(versionKey, 60_000);
      return "superseded";
    });
    expect(loaded._unsafeUnwrap()).toBe("superseded"); // the loaded value is still the caller's answer
    expect((await a.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBeUndefined();
  });
  it("a local write or a fill landing while a Redis-tier set is in flight is not overwritten by the set's older value", async () => {
    const w = freshWorkspace();
    const written = deferred<void>();
    const release = deferred<void>();
    const evalsha = a.client.evalsha.bind(a.client);
    a.client.evalsha = ((sha: string, ...rest: unknown[]) => {
      const reply = (evalsha as (...args: unknown[]) => Promise<unknown>)(sha, ...rest);
      if (sha !== writeScript.sha) return reply;
      return reply.then(async (value) => {
        written.resolve();
        await release.promise;
        return value;
      });
    }) as typeof a.client.evalsha;
    try {
      const setting = a.cache.set({ workspaceId: w, key: "k", value: "older" });
      const settingOther = a.cache.set({ workspaceId: w, key: "f", value: "written" });
      await written.promise;
      // A write to the local tier alone, after the Redis-tier set was sent.
      expect(a.cache.local.set({ workspaceId: w, key: "k", value: "newer" }).isOk()).toBe(true);
      // A fill of the local tier alone, finishing while the other set waits for its reply.
      expect((await a.cache.local.getOrLoad({ workspaceId: w, key: "f" }, () => "filled"))._unsafeUnwrap()).toBe("filled");
      release.resolve();
      expect((await setting).isOk()).toBe(true);
      expect((await settingOther).isOk()).toBe(true);
    } finally {
      a.client.evalsha = evalsha;
      release.resolve();
    }
    expect(a.cache.local.get({ workspaceId: w, key: "k" })._unsafeUnwrap()).toBe("newer");
    expect(a.cache.local.get({ workspaceId: w, key: "f" })._unsafeUnwrap()).toBe("filled");
  });
});
