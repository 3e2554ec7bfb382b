import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { redisKeyPrefix } from "../../../src/core/redis/keys.js";
import { countCommands, eventually, freshChannel, freshWorkspace, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;
const deferred = <T>() => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
};

describe("Redis tier on a real Redis 7", () => {
  let a: TestNode<string>;
  let b: TestNode<string>;
  let c: TestNode<string>;
  beforeAll(async () => {
    const channel = freshChannel();
    const options = { channel, heartbeatMs: 200, ttlMs: 60_000, timeoutMs: 1_000 };
    [a, b, c] = await Promise.all([startNode<string>(url(), options), startNode<string>(url(), options), startNode<string>(url(), options)]);
    // Let every node see every other's heartbeat (they are "live peers" for acks).
    await eventually(() => [a, b, c].every((n) => n.cache.stats().peers === 2));
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n.close()));
  });

  it("shares values across processes and keeps workspaces apart whatever the keys", async () => {
    const w1 = freshWorkspace();
    const w2 = freshWorkspace();
    expect((await a.cache.set({ workspaceId: w1, key: "k", value: "one" })).isOk()).toBe(true);
    expect((await b.cache.get({ workspaceId: w1, key: "k" }))._unsafeUnwrap()).toBe("one");
    expect((await b.cache.get({ workspaceId: w2, key: "k" }))._unsafeUnwrap()).toBeUndefined();
    await a.cache.set({ workspaceId: w1, key: `:${w2}:k`, value: "tricky" });
    expect((await b.cache.get({ workspaceId: w2, key: "k" }))._unsafeUnwrap()).toBeUndefined();
    expect((await b.cache.get({ workspaceId: w2, key: `:${w2}:k` }))._unsafeUnwrap()).toBeUndefined();
  });

  it("reads the generation, the key version and the entry in one round trip", async () => {
    const w = freshWorkspace();
    // Acknowledged, so b has already applied a's invalidation message (which would fence b's fill).
    await a.cache.set({ workspaceId: w, key: "k", value: "v", acknowledged: true });
    const counted = countCommands(b.client);
    expect((await b.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("v");
    expect(counted.names).toEqual(["evalsha"]);
    counted.reset();
    expect((await b.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("v"); // local tier now
    expect(counted.names).toEqual([]);
  });

  it("clears a workspace with one INCR, no SCAN or KEYS, however many entries it has", async () => {
    const w = freshWorkspace();
    const ws = a.cache.workspace(w)._unsafeUnwrap();
    for (let i = 0; i < 500; i++) await ws.set(`k${i}`, `v${i}`);
    await a.cache.clear({ workspaceId: freshWorkspace() }); // loads the script (EVALSHA alone from now on)
    const counted = countCommands(a.client);
    expect((await ws.clear({ acknowledged: true })).isOk()).toBe(true);
    expect(counted.names.filter((n) => n !== "publish")).toEqual(["evalsha"]);
    expect(await a.client.get(`${redisKeyPrefix(w, "cache")}gen`)).toBe("1");
    for (const node of [a, b, c]) expect((await node.cache.get({ workspaceId: w, key: "k7" }))._unsafeUnwrap()).toBeUndefined();
  });

  it("acknowledged invalidation: once delete resolves, no node serves the old value", async () => {
    const w = freshWorkspace();
    let db = "v1";
    const load = () => db;
    for (const node of [a, b, c]) expect((await node.cache.getOrLoad({ workspaceId: w, key: "k" }, load))._unsafeUnwrap()).toBe("v1");
    db = "v2";
    expect((await a.cache.delete({ workspaceId: w, key: "k", acknowledged: true })).isOk()).toBe(true);
    for (const node of [b, c]) expect((await node.cache.getOrLoad({ workspaceId: w, key: "k" }, load))._unsafeUnwrap()).toBe("v2");
  });

  it("fenced fill across processes: a load that started before a delete elsewhere never writes its old value", async () => {
    const w = freshWorkspace();
    const slow = deferred<string>();
    const pending = a.cache.getOrLoad({ workspaceId: w, key: "k" }, () => slow.promise);
    await new Promise((r) => setTimeout(r, 20)); // a has read Redis (miss) and is loading
    expect((await b.cache.delete({ workspaceId: w, key: "k", acknowledged: true })).isOk()).toBe(true);
    slow.resolve("old");
    expect((await pending)._unsafeUnwrap()).toBe("old");
    for (const node of [a, b, c]) {
      expect((await node.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "new"))._unsafeUnwrap()).toBe("new");
    }
  });

  it("10,000 concurrent misses per process call the loader once per process", async () => {
    const w = freshWorkspace();
    const calls = new Map<string, number>();
    const gate = deferred<void>();
    const loaderFor = (name: string) => async () => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      await gate.promise;
      return "loaded";
    };
    const all = [a, b].flatMap((node, i) =>
      Array.from({ length: 10_000 }, () => node.cache.getOrLoad({ workspaceId: w, key: "hot" }, loaderFor(`node${i}`))),
    );
    await new Promise((r) => setTimeout(r, 50));
    gate.resolve();
    const results = await Promise.all(all);
    expect(results.every((r) => r._unsafeUnwrap() === "loaded")).toBe(true);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(calls.size).toBeGreaterThanOrEqual(1);
  });

  it("corrupt data in Redis and unencodable values are typed errors", async () => {
    const w = freshWorkspace();
    await a.cache.set({ workspaceId: w, key: "k", value: "fine" });
    // The entry's key: e:<generation 0>:<version 1, after one set>:<len>:<key> (see scripts.ts).
    await a.client.set(`${redisKeyPrefix(w, "cache")}e:0:1:1:k`, "garbage");
    const fromRedis = await c.cache.get({ workspaceId: w, key: "k" });
    expect(fromRedis._unsafeUnwrapErr().type).toBe("SerializationFailed");
    const big = (await a.cache.set({ workspaceId: w, key: "n", value: 10n as unknown as string })) ;
    expect(big._unsafeUnwrapErr().type).toMatch(/SerializationFailed|InvalidSize/);
    expect((await a.cache.get({ workspaceId: "not-a-uuid", key: "k" }))._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    expect((await a.cache.get({ workspaceId: w, key: 5 as unknown as string }))._unsafeUnwrapErr().type).toBe("InvalidKey");
  });
});
