import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RedisServer } from "../../support/redis-server.js";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.js";
import { eventually, freshChannel, freshWorkspace, sleep, startNode, type TestNode } from "./nodes.js";

/** Long enough that healthy calls never time out on a loaded CI machine. */
const TIMEOUT_MS = 200;
/** "Settles within its timeout", with generous slack for a loaded 2-core machine. */
const SETTLE_BOUND_MS = TIMEOUT_MS + 1_000;

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await call();
  return { value, ms: performance.now() - start };
}

describe("Redis down", () => {
  let server: RedisServer;
  let node: TestNode<string>;
  beforeAll(async () => {
    server = await startRedis();
    node = await startNode<string>(server.url, {
      channel: freshChannel(),
      timeoutMs: TIMEOUT_MS,
      heartbeatMs: 200,
      ttlMs: 60_000,
      breaker: { threshold: 3, cooldownMs: 300 },
    });
  });
  afterAll(async () => {
    await node.close();
    await server.stop();
  });

  it("serves from memory, settles every call within its timeout, opens the breaker, and flushes on recovery", async () => {
    const w = freshWorkspace();
    const ws = node.cache.workspace(w)._unsafeUnwrap();
    expect((await ws.set("cached", "from-redis")).isOk()).toBe(true);
    await server.stop({ crash: true });
    await eventually(() => node.client.status !== "ready");

    const durations: number[] = [];
    const hit = await timed(() => ws.get("cached"));
    durations.push(hit.ms);
    expect(hit.value._unsafeUnwrap()).toBe("from-redis"); // the local tier keeps serving
    let loads = 0;
    for (let i = 0; i < 20; i++) {
      const miss = await timed(() => ws.get(`cold${i}`));
      durations.push(miss.ms);
      expect(miss.value._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
      const loaded = await timed(() => ws.getOrLoad(`load${i}`, () => (loads++, `db${i}`)));
      durations.push(loaded.ms);
      expect(loaded.value._unsafeUnwrap()).toBe(`db${i}`);
      const write = await timed(() => ws.set(`w${i}`, "x"));
      durations.push(write.ms);
      expect(write.value._unsafeUnwrapErr().type).toBe("StoreUnavailable");
    }
    expect(loads).toBe(20);
    // Loaded values are kept locally while Redis is down.
    expect((await ws.getOrLoad("load3", () => "reloaded"))._unsafeUnwrap()).toBe("db3");
    expect(node.cache.stats().breakerOpen).toBe(true);
    expect(Math.max(...durations)).toBeLessThan(SETTLE_BOUND_MS);

    const flushes = node.cache.stats().bus.flushes;
    await server.restart();
    await eventually(() => node.subscriber.status === "ready" && node.client.status === "ready", 10_000);
    await eventually(() => node.cache.stats().bus.flushes > flushes);
    await sleep(350); // the breaker's cooldown
    expect((await ws.getOrLoad("load3", () => "after-recovery"))._unsafeUnwrap()).toBe("after-recovery");
  });
});

describe("Redis blackholed (connection up, no answers)", () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  let node: TestNode<string>;
  beforeAll(async () => {
    server = await startRedis();
    proxy = await startTcpProxy(server.port);
    node = await startNode<string>(`redis://127.0.0.1:${proxy.port}`, {
      channel: freshChannel(),
      timeoutMs: TIMEOUT_MS,
      heartbeatMs: 200,
      breaker: { threshold: 3, cooldownMs: 60_000 },
    });
  });
  afterAll(async () => {
    proxy.blackhole(false);
    await node.close();
    await proxy.close();
    await server.stop();
  });

  it("every call settles within its timeout, then fails fast behind the open breaker", async () => {
    const ws = node.cache.workspace(freshWorkspace())._unsafeUnwrap();
    proxy.blackhole(true);
    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        timed(() => (i % 2 === 0 ? ws.get(`k${i}`) : ws.getOrLoad(`k${i}`, () => "db"))),
      ),
    );
    for (const { value, ms } of calls) {
      expect(ms).toBeLessThan(SETTLE_BOUND_MS);
      if (value.isErr()) expect(value.error.type).toBe("StoreUnavailable");
      else expect(value.value).toBe("db");
    }
    expect(node.cache.stats().breakerOpen).toBe(true);
    const fast = await timed(() => ws.delete("k"));
    expect(fast.value._unsafeUnwrapErr().message).toMatch(/circuit breaker is open/);
  });
});
