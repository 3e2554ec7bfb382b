import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisKey } from "../../../src/core/redis/keys.js";
import { RedisRunner } from "../../../src/core/redis/runner.js";
import { defineScript } from "../../../src/core/redis/script.js";
import { parseWorkspaceId, type WorkspaceId } from "../../../src/core/workspace-id.js";
import { clusterClient, redisClient, whenReady } from "../../support/redis-clients.js";
import { startRedis } from "../../support/redis-server.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";

const id = (s: string) => parseWorkspaceId(s)._unsafeUnwrap() as WorkspaceId;
const parent = id("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01");
const child = id("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02");

/** Adds ARGV[1] to every key and returns the values: a multi-key script like the quota ones. */
const incrAll = defineScript(
  "incrAll",
  `local out = {}
   for i, key in ipairs(KEYS) do out[i] = redis.call('INCRBY', key, ARGV[1]) end
   return out`,
);

describe("redis runner on a real Redis 7", () => {
  const client = redisClient();
  const runner = new RedisRunner(client, { timeoutMs: 1_000 });
  beforeAll(() => whenReady(client));
  afterAll(() => client.quit());

  it("round-trips a script and a command", async () => {
    const key = redisKey(parent, "test", `roundtrip-${Date.now()}`);
    expect((await runner.runScript(incrAll, [key], [5]))._unsafeUnwrap()).toEqual([5]);
    expect((await runner.command("GET", (c) => c.get(key)))._unsafeUnwrap()).toBe("5");
    const info = await client.info("server");
    expect(info).toMatch(/redis_version:7\./);
  });

  it("falls back to EVAL after SCRIPT FLUSH (NOSCRIPT) and then uses EVALSHA again", async () => {
    const key = redisKey(parent, "test", `noscript-${Date.now()}`);
    await client.script("FLUSH");
    expect((await runner.runScript(incrAll, [key], [1]))._unsafeUnwrap()).toEqual([1]);
    expect(await client.script("EXISTS", incrAll.sha)).toEqual([1]);
    expect((await runner.runScript(incrAll, [key], [1]))._unsafeUnwrap()).toEqual([2]);
  });

  it("returns StoreFailed (not retryable) for a script error", async () => {
    const bad = defineScript("bad", "return redis.call('NOPE')");
    const result = await runner.runScript(bad, [], []);
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false });
  });
});

describe("redis cluster (3 masters)", () => {
  const cluster = clusterClient();
  const runner = new RedisRunner(cluster, { timeoutMs: 2_000 });
  beforeAll(() => whenReady(cluster));
  afterAll(() => cluster.quit());

  it("has 3 masters", async () => {
    const nodes = cluster.nodes("master");
    expect(nodes).toHaveLength(3);
    const info = (await cluster.cluster("INFO")) as string;
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_size:3/);
  });

  it("runs a multi-key script over a parent's and a child's keys with no CROSSSLOT", async () => {
    const suffix = Date.now();
    const keys = [
      redisKey(parent, "quota", parent, `a-${suffix}`),
      redisKey(parent, "quota", child, `b-${suffix}`),
      redisKey(parent, "cache", child, `c-${suffix}`),
    ];
    expect((await runner.runScript(incrAll, keys, [3]))._unsafeUnwrap()).toEqual([3, 3, 3]);
  });

  it("control: the same script over keys without the family hash tag fails with CROSSSLOT", async () => {
    const keys = [`tk:${parent}:a`, `tk:${child}:b`, `tk:other:c`];
    const result = await runner.runScript(incrAll, keys, [1]);
    expect(result.isErr()).toBe(true);
    expect(result._unsafeUnwrapErr().message).toMatch(/CROSSSLOT|same slot/i);
  });
});

/** Long enough that a healthy call never times out on a loaded CI machine; far below ioredis's ~10 s stall. */
const TIMEOUT_MS = 200;
const SETTLE_BOUND_MS = 1_500;

describe("faults: every call settles within its timeout with a typed error", () => {
  it("a stopped Redis", async () => {
    const server = await startRedis();
    const client = new Redis(server.url, { autoResendUnfulfilledCommands: false, retryStrategy: () => 50 });
    client.on("error", () => undefined); // the server is stopped on purpose; asserted through the Results
    const runner = new RedisRunner(client, { timeoutMs: TIMEOUT_MS });
    await whenReady(client);
    expect((await runner.command("PING", (c) => c.ping()))._unsafeUnwrap()).toBe("PONG");
    await server.stop({ crash: true });
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const result = await runner.runScript(incrAll, [redisKey(parent, "test", "x")], [1]);
      const elapsed = performance.now() - started;
      expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
      // ioredis on its own stalls ~10 s here; the bound is the timeout plus scheduling slack.
      expect(elapsed).toBeLessThan(SETTLE_BOUND_MS);
    }
    await server.restart();
    await whenReady(client);
    expect((await runner.command("PING", (c) => c.ping()))._unsafeUnwrap()).toBe("PONG");
    client.disconnect();
    await server.stop();
  });

  it("a blackholed Redis (connection open, no bytes forwarded)", async () => {
    const server = await startRedis();
    const proxy = await startTcpProxy(server.port);
    const client = new Redis(proxy.port, "127.0.0.1", { autoResendUnfulfilledCommands: false });
    const runner = new RedisRunner(client, { timeoutMs: TIMEOUT_MS });
    await whenReady(client);
    const key = redisKey(parent, "test", `blackhole-${Date.now()}`);
    expect((await runner.runScript(incrAll, [key], [1]))._unsafeUnwrap()).toEqual([1]);
    proxy.blackhole(true);
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 50 }, () => runner.runScript(incrAll, [key], [1])));
    const elapsed = performance.now() - started;
    for (const result of results) {
      expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", message: expect.stringMatching(new RegExp(`within ${TIMEOUT_MS} ms`)) as unknown as string });
    }
    expect(elapsed).toBeLessThan(SETTLE_BOUND_MS);
    client.disconnect();
    await proxy.close();
    await server.stop();
  });
});
