import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { redisKeyPrefix } from "../../../src/core/redis/keys.js";
import { eventually, freshChannel, freshWorkspace, sleep, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;

/** PTTL of the version key and of an entry, read in one script (one instant). */
async function ttls(node: TestNode<string>, versionKey: string, entryKey: string): Promise<{ version: number; entry: number }> {
  const [version, entry] = (await node.client.eval("return {redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])}", 2, versionKey, entryKey)) as [number, number];
  return { version, entry };
}

// A key's version number must never be used twice while an entry filed under
// its first use may still exist in Redis: when the version key expires, the
// next delete's INCR restarts at 1, and an old e:<gen>:1:… entry would be
// current again.
describe("version keys outlive the entries filed under them (real Redis 7)", () => {
  let a: TestNode<string>;
  let b: TestNode<string>;
  let c: TestNode<string>;
  beforeAll(async () => {
    const options = { channel: freshChannel(), heartbeatMs: 200, ttlMs: 60_000, timeoutMs: 1_000 };
    [a, b, c] = await Promise.all([startNode<string>(url(), options), startNode<string>(url(), options), startNode<string>(url(), options)]);
    await eventually(() => [a, b, c].every((n) => n.cache.stats().peers === 2));
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n.close()));
  });

  it("a delete after the version key's TTL ran out never brings back an older value", async () => {
    const w = freshWorkspace();
    const versionKey = `${redisKeyPrefix(w, "cache")}v:1:k`;
    expect((await a.cache.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true); // version 1
    // The version key near the end of its TTL, as it would be an hour after that delete.
    const VERSION_LEFT_MS = 200;
    await a.client.pexpire(versionKey, VERSION_LEFT_MS);
    const versionDeadline = Date.now() + VERSION_LEFT_MS;
    // b fills version 1 with a value that lives 60 s in Redis.
    expect((await b.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "v1"))._unsafeUnwrap()).toBe("v1");
    await sleep(versionDeadline + 50 - Date.now()); // past the version key's old deadline
    // The value changes and is invalidated: no node may read v1 again.
    expect((await a.cache.delete({ workspaceId: w, key: "k", acknowledged: true })).isOk()).toBe(true);
    expect((await c.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "v2"))._unsafeUnwrap()).toBe("v2");
    expect((await b.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("v2");
  });

  it("fills (negative ones longer than the version TTL too), deletes and sets never leave the version key expiring before an entry", async () => {
    const HOURS_2 = 7_200_000; // longer than the version keys' default TTL (1 h)
    const d = await startNode<string>(url(), { channel: freshChannel(), ttlMs: 60_000, negativeTtlMs: HOURS_2, timeoutMs: 1_000 });
    try {
      const w = freshWorkspace();
      const prefix = redisKeyPrefix(w, "cache");
      const versionKey = `${prefix}v:1:k`;
      const entryKey = `${prefix}e:0:0:1:k`; // generation 0, version 0 (no version key yet)
      expect((await d.cache.getOrLoad({ workspaceId: w, key: "k" }, () => undefined))._unsafeUnwrap()).toBeUndefined();
      const filled = await ttls(d, versionKey, entryKey);
      expect(filled.entry).toBeGreaterThan(3_600_000);
      expect(filled.version).toBeGreaterThanOrEqual(filled.entry);
      expect((await d.cache.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true);
      const deleted = await ttls(d, versionKey, entryKey);
      expect(deleted.version).toBeGreaterThanOrEqual(deleted.entry);
      expect((await d.cache.set({ workspaceId: w, key: "k", value: "v" })).isOk()).toBe(true);
      const written = await ttls(d, versionKey, entryKey);
      expect(written.version).toBeGreaterThanOrEqual(written.entry);
    } finally {
      await d.close();
    }
  });
  it("a version key without a TTL (one the library did not create) keeps having none: no script gives it one", async () => {
    const w = freshWorkspace();
    const prefix = redisKeyPrefix(w, "cache");
    const versionKey = `${prefix}v:1:k`;
    await a.client.set(versionKey, "41"); // no TTL
    expect((await a.cache.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true);
    expect([await a.client.get(versionKey), await a.client.pttl(versionKey)]).toEqual(["42", -1]);
    expect((await a.cache.set({ workspaceId: w, key: "k", value: "v" })).isOk()).toBe(true);
    expect([await a.client.get(versionKey), await a.client.pttl(versionKey)]).toEqual(["43", -1]);
    expect((await b.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "loaded"))._unsafeUnwrap()).toBe("v");
    // A version key the scripts create still gets its TTL.
    const fresh = `${prefix}v:2:k2`;
    expect((await a.cache.delete({ workspaceId: w, key: "k2" })).isOk()).toBe(true);
    expect(await a.client.pttl(fresh)).toBeGreaterThan(3_000_000);
    const fresher = `${prefix}v:2:k3`;
    expect((await a.cache.set({ workspaceId: w, key: "k3", value: "v" })).isOk()).toBe(true);
    expect(await a.client.pttl(fresher)).toBeGreaterThan(3_000_000);
  });
});
