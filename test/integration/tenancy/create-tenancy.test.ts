import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ok } from "neverthrow";
import { loadConfig } from "../../../src/core/config.js";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import { generateRootKeyEntry } from "../../../src/crypto/root-key-gen.js";
import { createTenancy, type Tenancy } from "../../../src/tenancy/index.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { startRedis } from "../../support/redis-server.js";
import { clusterClient, whenReady } from "../../support/redis-clients.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";
import { tcpServer } from "../../support/tcp-server.js";

const servers = inject("servers");
const PLANS = JSON.stringify({ plans: { free: { messages: { kind: "period", period: "month", limit: 3 } } }, defaultPlan: "free" });
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_tenancy");
  env = {
    TENANCY_REDIS_URL: servers.redisUrl,
    TENANCY_DATABASE_URL: database.url,
    TENANCY_QUOTA_PLANS: PLANS,
    TENANCY_ROOT_KEYS: generateRootKeyEntry("k1"),
    TENANCY_AUDIT_SIGNING_KEY: Buffer.alloc(32, 9).toString("base64"),
  };
});
afterAll(async () => {
  await database.drop();
});

async function open(): Promise<Tenancy> {
  return (await createTenancy(loadConfig(env)._unsafeUnwrap(), { migrate: true }))._unsafeUnwrap();
}

describe("createTenancy with TENANCY_REDIS_URL and TENANCY_DATABASE_URL (real Redis and PostgreSQL 15)", () => {
  it("two instances (two processes' worth) share quotas in Redis, data keys and the audit log in Postgres", async () => {
    const [a, b] = [await open(), await open()];
    const workspaceId = randomUUID();
    try {
      expect(a.redis).toBeDefined();
      expect(a.pool).toBeDefined();
      // One limit of 3 across both: exact only if both decide on the same Redis.
      const allowed: boolean[] = [];
      for (const t of [a, b, a, b]) allowed.push((await t.quota!.consume({ workspaceId, limit: "messages" }))._unsafeUnwrap().allowed);
      expect(allowed).toEqual([true, true, true, false]);
      const probe = new Redis(servers.redisUrl);
      try {
        expect(await probe.exists(`tk:{${workspaceId}}:quota:state`)).toBe(1);
      } finally {
        probe.disconnect();
      }

      // A ciphertext sealed by one instance opens in the other: its data key is in Postgres.
      const sealed = (await a.cipher!.encryptText({ workspaceId, purpose: "secret", plaintext: "sk_live_1" }))._unsafeUnwrap();
      expect((await b.cipher!.decryptText({ workspaceId, purpose: "secret", ciphertext: sealed }))._unsafeUnwrap()).toBe("sk_live_1");

      // An entry appended through one instance is durable and verifiable through the other.
      (await a.audit.append({ workspaceId, actor: { type: "member", id: "m1" }, action: "journey.updated" }))._unsafeUnwrap();
      const page = (await b.audit.query({ workspaceId }))._unsafeUnwrap();
      expect(page.entries.map((e) => e.action)).toEqual(["journey.updated"]);
      expect((await b.audit.verify({ workspaceId }))._unsafeUnwrap().ok).toBe(true);
      // The pool is shared as it is with tenancykit's Postgres helpers.
      const scoped = await withWorkspace(a.pool!, workspaceId, async (tx) => ok((await tx.query<{ ws: string }>("select current_setting('tenancy.workspace_id') as ws")).rows[0]!.ws));
      expect(scoped._unsafeUnwrap()).toBe(workspaceId);
      const direct = new pg.Client({ connectionString: database.url });
      await direct.connect();
      try {
        const { rows } = await direct.query<{ n: string }>("select count(*) as n from audit_entry where workspace_id = $1", [workspaceId]);
        expect(Number(rows[0]!.n)).toBe(1);
        const keys = await direct.query<{ n: string }>("select count(*) as n from tenancy_data_keys where workspace_id = $1", [workspaceId]);
        expect(Number(keys.rows[0]!.n)).toBe(1);
      } finally {
        await direct.end();
      }
    } finally {
      await a.close();
      await b.close();
    }
    expect(a.redis!.status).toBe("end");
    expect(a.pool!.totalCount).toBe(0);
  });

  it("uses connections of one's own (a Redis Cluster, a pg Pool) and leaves them open at close()", async () => {
    const cluster = clusterClient();
    const pool = new pg.Pool({ connectionString: database.url, max: 3 });
    await whenReady(cluster);
    const { TENANCY_REDIS_URL: _r, TENANCY_DATABASE_URL: _d, ...rest } = env;
    const tenancy = (await createTenancy(loadConfig(rest)._unsafeUnwrap(), { clients: { redis: cluster, pool }, migrate: true }))._unsafeUnwrap();
    const workspaceId = randomUUID();
    try {
      expect(tenancy.redis).toBe(cluster);
      expect(tenancy.pool).toBe(pool);
      const allowed: boolean[] = [];
      for (let i = 0; i < 4; i++) allowed.push((await tenancy.quota!.consume({ workspaceId, limit: "messages" }))._unsafeUnwrap().allowed);
      expect(allowed).toEqual([true, true, true, false]);
      expect(await cluster.exists(`tk:{${workspaceId}}:quota:state`)).toBe(1);
      (await tenancy.audit.append({ workspaceId, actor: { type: "member", id: "m1" }, action: "journey.updated" }))._unsafeUnwrap();
      const { rows } = await pool.query<{ n: string }>("select count(*) as n from audit_entry where workspace_id = $1", [workspaceId]);
      expect(Number(rows[0]!.n)).toBe(1);
    } finally {
      await tenancy.close();
    }
    expect(await cluster.ping()).toBe("PONG");
    expect((await pool.query<{ one: number }>("select 1 as one")).rows[0]!.one).toBe(1);
    cluster.disconnect();
    await pool.end();
  });

  it("shared caches of two instances see each other's values and invalidations, and close() closes their subscriber connections", async () => {
    const ownRedis = await startRedis(); // its own server, so only this test's connections are counted
    const { TENANCY_DATABASE_URL: _d, ...rest } = env;
    const config = loadConfig({ ...rest, TENANCY_REDIS_URL: ownRedis.url })._unsafeUnwrap();
    const [a, b] = [(await createTenancy(config))._unsafeUnwrap(), (await createTenancy(config))._unsafeUnwrap()];
    try {
      const [ca, cb] = [
        (await a.sharedCache<string>({ maxBytes: 1_000_000, acknowledged: true }))._unsafeUnwrap(),
        (await b.sharedCache<string>({ maxBytes: 1_000_000, acknowledged: true }))._unsafeUnwrap(),
      ];
      const workspaceId = randomUUID();
      (await ca.set({ workspaceId, key: "write-key", value: "ws-secret-1" }))._unsafeUnwrap();
      expect((await cb.get({ workspaceId, key: "write-key" }))._unsafeUnwrap()).toBe("ws-secret-1"); // from Redis, now also in b's memory
      (await ca.delete({ workspaceId, key: "write-key" }))._unsafeUnwrap(); // acknowledged: b has dropped its copy
      expect((await cb.get({ workspaceId, key: "write-key" }))._unsafeUnwrap()).toBeUndefined();
      expect(await clientsOtherThanMe(ownRedis.url)).toBe(4); // two command clients, two subscribers
    } finally {
      await a.close();
      await b.close();
    }
    expect(await clientsOtherThanMe(ownRedis.url)).toBe(0);
    await ownRedis.stop();
  });

  it("sharedCache after close() is an Err and opens nothing; on a client of one's own without an offline queue it still starts", async () => {
    const ownRedis = await startRedis();
    const { TENANCY_DATABASE_URL: _d, ...rest } = env;
    try {
      const tenancy = (await createTenancy(loadConfig({ ...rest, TENANCY_REDIS_URL: ownRedis.url })._unsafeUnwrap()))._unsafeUnwrap();
      await tenancy.close();
      expect((await tenancy.sharedCache<string>({ maxBytes: 1_000 }))._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable" });
      expect(await clientsOtherThanMe(ownRedis.url)).toBe(0);

      const mine = new Redis(ownRedis.url, { autoResendUnfulfilledCommands: false, enableOfflineQueue: false });
      mine.on("error", () => undefined); // the server stops at the end of the test
      await whenReady(mine);
      const { TENANCY_REDIS_URL: _r, ...noUrls } = rest;
      const withMine = (await createTenancy(loadConfig(noUrls)._unsafeUnwrap(), { clients: { redis: mine } }))._unsafeUnwrap();
      const shared = (await withMine.sharedCache<string>({ maxBytes: 1_000 }))._unsafeUnwrap();
      const workspaceId = randomUUID();
      (await shared.set({ workspaceId, key: "k", value: "v" }))._unsafeUnwrap();
      expect((await shared.get({ workspaceId, key: "k" }))._unsafeUnwrap()).toBe("v");
      await withMine.close();
      expect(await mine.ping()).toBe("PONG"); // the caller's client stays open
      mine.disconnect();
      expect(await clientsOtherThanMe(ownRedis.url)).toBe(0);
    } finally {
      await ownRedis.stop();
    }
  });

  it("sharedCache while Redis is down fails with StoreUnavailable and leaves no subscriber reconnecting", async () => {
    const refusing = await tcpServer((socket) => socket.destroy());
    const { TENANCY_DATABASE_URL: _d, ...rest } = env;
    const tenancy = (await createTenancy(loadConfig({ ...rest, TENANCY_REDIS_URL: `redis://127.0.0.1:${refusing.port}` })._unsafeUnwrap()))._unsafeUnwrap();
    try {
      const shared = await tenancy.sharedCache<string>({ maxBytes: 1_000 });
      expect(shared._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable" });
    } finally {
      await tenancy.close();
    }
    const attempts = refusing.connections();
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // ioredis would retry within this
    expect(refusing.connections()).toBe(attempts);
    await refusing.close();
  });

  it("after a timed-out decision the quota store resets a connection it opened, never a client of one's own", async () => {
    const redisPort = Number(new URL(servers.redisUrl).port);
    const { TENANCY_DATABASE_URL: _d, TENANCY_REDIS_URL: _r, ...rest } = env;
    const resets = async (own: boolean): Promise<number> => {
      const proxy = await startTcpProxy(redisPort);
      const url = `redis://127.0.0.1:${proxy.port}`;
      const mine = own ? new Redis(url, { autoResendUnfulfilledCommands: false }) : undefined;
      mine?.on("error", () => undefined);
      const config = loadConfig({ ...rest, TENANCY_REDIS_TIMEOUT_MS: "100", ...(own ? {} : { TENANCY_REDIS_URL: url }) })._unsafeUnwrap();
      const tenancy = (await createTenancy(config, own ? { clients: { redis: mine! } } : {}))._unsafeUnwrap();
      const client = tenancy.redis!;
      let closes = 0;
      client.on("close", () => closes++);
      try {
        const workspaceId = randomUUID();
        await whenReady(client);
        expect((await tenancy.quota!.consume({ workspaceId, limit: "messages" }))._unsafeUnwrap().degraded).toBe(false);
        proxy.blackhole(true); // the path goes dead: no reply, no FIN
        expect((await tenancy.quota!.consume({ workspaceId, limit: "messages" }))._unsafeUnwrap().degraded).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return closes;
      } finally {
        await tenancy.close();
        mine?.disconnect();
        await proxy.close();
      }
    };
    expect(await resets(false)).toBeGreaterThan(0); // its own connection: reset, so a dead path cannot keep it stuck
    expect(await resets(true)).toBe(0); // the caller's: left alone (others share it)
  });

  it("sharedCache without Redis is an InvalidConfig Err", async () => {
    const tenancy = (await createTenancy(loadConfig({})._unsafeUnwrap()))._unsafeUnwrap();
    const shared = await tenancy.sharedCache<string>({ maxBytes: 1_000 });
    expect(shared._unsafeUnwrapErr()).toMatchObject({ type: "InvalidConfig", message: expect.stringMatching(/TENANCY_REDIS_URL/) });
    await tenancy.close();
  });

  it("a Redis that is down at start-up does not fail the start: decisions come back degraded, and close() stops the reconnections", async () => {
    const refusing = await tcpServer((socket) => socket.destroy()); // accepts, then drops: ioredis keeps reconnecting
    const { TENANCY_DATABASE_URL: _unused, ...withoutDatabase } = env;
    const tenancy = (await createTenancy(loadConfig({ ...withoutDatabase, TENANCY_REDIS_URL: `redis://127.0.0.1:${refusing.port}`, TENANCY_REDIS_TIMEOUT_MS: "100" })._unsafeUnwrap()))._unsafeUnwrap();
    try {
      for (let waited = 0; refusing.connections() < 2 && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(refusing.connections()).toBeGreaterThanOrEqual(2); // dropped once, reconnecting
      const decision = (await tenancy.quota!.consume({ workspaceId: randomUUID(), limit: "messages" }))._unsafeUnwrap();
      expect(decision.degraded).toBe(true);
    } finally {
      await tenancy.close();
    }
    const attempts = refusing.connections();
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // ioredis retries within 50-300 ms at this point
    expect(refusing.connections()).toBe(attempts);
    await refusing.close();
  });

  it("replicas starting together with migrate: true all start (the migration is serialised)", async () => {
    const fresh = await createTestDatabase(servers.postgresUrl, "tk_tenancy_race");
    try {
      const config = loadConfig({ ...env, TENANCY_DATABASE_URL: fresh.url })._unsafeUnwrap();
      const started = await Promise.all(Array.from({ length: 4 }, () => createTenancy(config, { migrate: true })));
      const errors = started.filter((r) => r.isErr()).map((r) => r._unsafeUnwrapErr().message);
      for (const r of started) if (r.isOk()) await r.value.close();
      expect(errors).toEqual([]);
    } finally {
      await fresh.drop();
    }
  });

  it("a Postgres that never answers fails `migrate` within the pool's connection timeout, and closes the Redis client it opened", async () => {
    const silent = await tcpServer(() => undefined); // accepts and never answers
    const ownRedis = await startRedis(); // its own server, so no other test's clients are counted
    try {
      const result = await createTenancy(
        loadConfig({ ...env, TENANCY_REDIS_URL: ownRedis.url, TENANCY_DATABASE_URL: `postgres://postgres@127.0.0.1:${silent.port}/postgres` })._unsafeUnwrap(),
        { migrate: true, pool: { connectionTimeoutMillis: 300 } },
      );
      expect(result.isErr()).toBe(true);
      expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable" });
      expect(silent.connections()).toBeGreaterThan(0);
      expect(await clientsOtherThanMe(ownRedis.url)).toBe(0);
    } finally {
      await silent.close();
      await ownRedis.stop();
    }
  });

  it("a database that does not exist fails `migrate` with a typed Err naming it", async () => {
    const missing = { ...env, TENANCY_DATABASE_URL: `${servers.postgresUrl.replace(/\/[^/]*$/, "")}/tk_no_such_database` };
    const result = await createTenancy(loadConfig(missing)._unsafeUnwrap(), { migrate: true });
    expect(result.isErr()).toBe(true);
    expect(result._unsafeUnwrapErr().message).toMatch(/tk_no_such_database/);
  });
});

/** Clients connected to the Redis at `url` besides the one asking, once the server has seen closed ones go (1 s at most). */
async function clientsOtherThanMe(url: string): Promise<number> {
  const probe = new Redis(url);
  try {
    let others = Infinity;
    for (let attempt = 0; attempt < 20 && others !== 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      others = ((await probe.client("LIST")) as string).trim().split("\n").length - 1;
    }
    return others;
  } finally {
    probe.disconnect();
  }
}
