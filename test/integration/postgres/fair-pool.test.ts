import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { ok } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FairPool } from "../../../src/postgres/fair-pool.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
const pools: pg.Pool[] = [];
const newPool = (max: number, url = database.url) => {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => undefined);
  pools.push(pool);
  return pool;
};

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_pg_fair");
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await database.drop();
});

describe("FairPool over a real pg.Pool", () => {
  it("caps the connections one workspace holds, while others still get the rest", async () => {
    const fair = new FairPool(newPool(6), { size: 6, maxPerWorkspace: 2 });
    const flooder = randomUUID();
    const quiet = randomUUID();
    const active = new Map<string, number>();
    const peak = new Map<string, number>();
    const run = (ws: string) =>
      fair.withConnection(ws, async (client) => {
        active.set(ws, (active.get(ws) ?? 0) + 1);
        peak.set(ws, Math.max(peak.get(ws) ?? 0, active.get(ws) ?? 0));
        await client.query("select pg_sleep(0.02)");
        active.set(ws, (active.get(ws) ?? 0) - 1);
        return ok(undefined);
      });
    const results = await Promise.all([...Array.from({ length: 30 }, () => run(flooder)), ...Array.from({ length: 6 }, () => run(quiet))]);
    expect(results.every((r) => r.isOk())).toBe(true);
    expect(peak.get(flooder)).toBe(2);
    expect(peak.get(quiet)).toBe(2);
    const metrics = fair.metrics();
    expect(metrics.workspaces.get(flooder)).toMatchObject({ active: 0, waiting: 0, timeouts: 0 });
    expect(metrics.workspaces.get(flooder)?.wait.count).toBe(30);
    expect(metrics.free).toBe(6);
  });

  it("queues fairly: a quiet workspace is served next, not after the flood (plain pg.Pool serves it last)", async () => {
    const flooder = randomUUID();
    const quiet = [randomUUID(), randomUUID(), randomUUID()];
    const fair = new FairPool(newPool(2), { size: 2, maxPerWorkspace: 2 });
    const order: string[] = [];
    const job = (ws: string) => fair.withConnection(ws, async (c) => {
      order.push(ws);
      await c.query("select pg_sleep(0.01)");
      return ok(undefined);
    });
    const flood = Array.from({ length: 40 }, () => job(flooder));
    await sleep(30);
    const waitingBefore = fair.metrics().workspaces.get(flooder)?.waiting ?? 0;
    expect(waitingBefore).toBeGreaterThan(20);
    const grantedBefore = order.length;
    const quietJobs = quiet.map((ws) => job(ws));
    await Promise.all([...flood, ...quietJobs]);
    const quietPositions = quiet.map((ws) => order.indexOf(ws));
    // Round robin: each quiet workspace is among the next grants after it queued, ahead of ~20 waiting flood requests.
    for (const position of quietPositions) expect(position).toBeLessThanOrEqual(grantedBefore + 2 * quiet.length + 2);

    // The same sequence on a plain pg.Pool: FIFO, so the quiet requests come after every queued flood request.
    const plain = newPool(2);
    const plainOrder: string[] = [];
    const plainJob = async (ws: string) => {
      const client = await plain.connect();
      plainOrder.push(ws);
      await client.query("select pg_sleep(0.01)");
      client.release();
    };
    const plainFlood = Array.from({ length: 40 }, () => plainJob(flooder));
    await sleep(30);
    await Promise.all([...plainFlood, ...quiet.map((ws) => plainJob(ws))]);
    expect(Math.min(...quiet.map((ws) => plainOrder.indexOf(ws)))).toBeGreaterThanOrEqual(40);
  });

  it("times out a queued acquisition with a typed Err, and the pool stays whole", async () => {
    const pool = newPool(1);
    const fair = new FairPool(pool, { size: 1, acquireTimeoutMs: 100 });
    const holder = (await fair.acquire(randomUUID()))._unsafeUnwrap();
    const started = Date.now();
    const late = await fair.acquire(randomUUID());
    expect(late._unsafeUnwrapErr()).toMatchObject({ type: "PoolTimeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    holder.release();
    holder.release(); // a second release is ignored, not a double return
    const next = (await fair.acquire(randomUUID()))._unsafeUnwrap();
    next.release();
    expect(fair.metrics()).toMatchObject({ free: 1, total: 1, idle: 1 });
  });

  it("never leaves a zombie: a connect that completes after the caller gave up goes straight back to the pool", async () => {
    const real = newPool(2);
    const slow = Object.assign(Object.create(real) as pg.Pool, {
      connect: async () => {
        await sleep(300);
        return real.connect();
      },
    });
    const fair = new FairPool(slow, { size: 2, acquireTimeoutMs: 80 });
    const results = await Promise.all([fair.acquire(randomUUID()), fair.acquire(randomUUID())]);
    expect(results.map((r) => r._unsafeUnwrapErr().type)).toEqual(["PoolTimeout", "PoolTimeout"]);
    expect(fair.metrics().free).toBe(2);
    await sleep(600);
    // Both late connections exist and are idle in the pool: none is checked out and forgotten.
    expect(real.totalCount).toBe(2);
    expect(real.idleCount).toBe(2);
  });

  it("settles within its timeout on a dead network path, returns the slot, and recovers", async () => {
    const proxy = await startTcpProxy(Number(new URL(database.url).port));
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const pool = newPool(2, url.toString());
    const fair = new FairPool(pool, { size: 2, acquireTimeoutMs: 200 });
    proxy.blackhole(true);
    const dead = await fair.acquire(randomUUID());
    expect(dead._unsafeUnwrapErr().type).toBe("PoolTimeout");
    expect(fair.metrics().free).toBe(2);
    proxy.blackhole(false);
    await proxy.close(); // ends the hung connect, which the pool then drops
    await sleep(100);
    expect(pool.totalCount).toBe(0);
  });

  it("refuses beyond maxWaitingPerWorkspace (backpressure) without touching other workspaces", async () => {
    const fair = new FairPool(newPool(1), { size: 1, maxWaitingPerWorkspace: 3, acquireTimeoutMs: 2_000 });
    const flooder = randomUUID();
    const holder = (await fair.acquire(flooder))._unsafeUnwrap();
    const queued = Array.from({ length: 3 }, () => fair.acquire(flooder));
    expect((await fair.acquire(flooder))._unsafeUnwrapErr().type).toBe("PoolQueueFull");
    const other = fair.acquire(randomUUID());
    holder.release();
    // Round robin: the flooder's first waiter, then the other workspace, then the flooder's rest.
    const [first, second, third] = queued;
    (await first)?._unsafeUnwrap().release();
    (await other)._unsafeUnwrap().release();
    (await second)?._unsafeUnwrap().release();
    (await third)?._unsafeUnwrap().release();
    expect(fair.metrics().workspaces.get(flooder)?.rejected).toBe(1);
  });

  it("chaos: 400 requests with random timeouts over 20 workspaces leave no slot or connection behind", async () => {
    const pool = newPool(3);
    const fair = new FairPool(pool, { size: 3, maxPerWorkspace: 2 });
    const workspaces = Array.from({ length: 20 }, () => randomUUID());
    let outcomes = { ok: 0, timeout: 0 };
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const got = await fair.acquire(workspaces[i % 20] ?? "", { timeoutMs: 5 + (i % 7) * 15 });
        if (got.isErr()) {
          outcomes = { ...outcomes, timeout: outcomes.timeout + 1 };
          return;
        }
        await got.value.client.query("select pg_sleep(0.002)");
        got.value.release();
        outcomes = { ...outcomes, ok: outcomes.ok + 1 };
      }),
    );
    expect(outcomes.ok + outcomes.timeout).toBe(400);
    expect(outcomes.timeout).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
    const metrics = fair.metrics();
    expect(metrics.free).toBe(3);
    expect(pool.totalCount - pool.idleCount).toBe(0);
    expect([...metrics.workspaces.values()].every((w) => w.active === 0 && w.waiting === 0)).toBe(true);
  });

  it("withWorkspace on a fairly acquired connection scopes the transaction", async () => {
    const fair = new FairPool(newPool(2), { size: 2 });
    const ws = randomUUID();
    const seen = await fair.withWorkspace(ws, async (tx) => ok((await tx.query<{ s: string }>("select current_setting('tenancy.workspace_id') s")).rows[0]?.s));
    expect(seen._unsafeUnwrap()).toBe(ws);
    expect(fair.metrics().free).toBe(2);
    expect((await fair.withWorkspace("bad", async () => ok(1)))._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
  });
});
