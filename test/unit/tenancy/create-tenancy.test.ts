import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/core/config.js";
import { generateRootKeyEntry } from "../../../src/crypto/root-key-gen.js";
import { createTenancy } from "../../../src/tenancy/index.js";
import { tcpServer } from "../../support/tcp-server.js";

const PLANS = JSON.stringify({ plans: { free: { messages: { kind: "period", period: "month", limit: 2 } } }, defaultPlan: "free" });
const SEED = Buffer.alloc(32, 7).toString("base64");

function config(env: Record<string, string>) {
  return loadConfig(env)._unsafeUnwrap();
}

describe("createTenancy on the embedded defaults (no URLs)", () => {
  it("wires quota, cipher, audit and caches in memory, all reporting into one TenantMetrics", async () => {
    const tenancy = (await createTenancy(config({ TENANCY_QUOTA_PLANS: PLANS, TENANCY_ROOT_KEYS: generateRootKeyEntry("k1"), TENANCY_AUDIT_SIGNING_KEY: SEED })))._unsafeUnwrap();
    const workspaceId = randomUUID();
    try {
      expect(tenancy.redis).toBeUndefined();
      expect(tenancy.pool).toBeUndefined();
      const decisions = [];
      for (let i = 0; i < 3; i++) decisions.push((await tenancy.quota!.consume({ workspaceId, limit: "messages" }))._unsafeUnwrap().allowed);
      expect(decisions).toEqual([true, true, false]);

      const sealed = (await tenancy.cipher!.encryptText({ workspaceId, purpose: "secret", plaintext: "api-key" }))._unsafeUnwrap();
      expect((await tenancy.cipher!.decryptText({ workspaceId, purpose: "secret", ciphertext: sealed }))._unsafeUnwrap()).toBe("api-key");

      (await tenancy.audit.append({ workspaceId, actor: { type: "member", id: "m1" }, action: "journey.updated" }))._unsafeUnwrap();
      const checkpoint = (await tenancy.audit.checkpoint({ workspaceId }))._unsafeUnwrap();
      expect(checkpoint?.signature).toBeDefined();
      expect((await tenancy.audit.verify({ workspaceId }))._unsafeUnwrap().ok).toBe(true);

      const cache = tenancy.cache<string>({ maxBytes: 1_000 });
      const handle = cache.workspace(workspaceId)._unsafeUnwrap();
      handle.set("k", "v");
      expect(handle.get("k")._unsafeUnwrap()).toBe("v");
      expect(handle.get("missing")._unsafeUnwrap()).toBeUndefined();
      cache.close(); // pushes its counters to the sink

      const usage = tenancy.metrics.usage({ workspaceId })._unsafeUnwrap().values;
      expect(usage).toMatchObject({ quota_allowed_total: 2, quota_denied_total: 1, audit_events_total: 1, cache_hits_total: 1, cache_misses_total: 1 });
    } finally {
      await tenancy.close();
    }
  });

  it("leaves out what is not configured: no plans, no quota; no root keys, no cipher; no signing key, no signed checkpoints", async () => {
    const tenancy = (await createTenancy(config({})))._unsafeUnwrap();
    try {
      expect(tenancy.quota).toBeUndefined();
      expect(tenancy.cipher).toBeUndefined();
      const workspaceId = randomUUID();
      (await tenancy.audit.append({ workspaceId, actor: { type: "member", id: "m1" }, action: "key.rotated" }))._unsafeUnwrap();
      expect((await tenancy.audit.checkpoints({ workspaceId }))._unsafeUnwrap()).toEqual([]);
    } finally {
      await tenancy.close();
    }
  });

  it("reports every bad value at once, as InvalidConfig, before opening anything", async () => {
    const listener = await countingServer();
    try {
      const bad = config({
        TENANCY_QUOTA_PLANS: '{"plans":{}}',
        TENANCY_ROOT_KEYS: "k1:notbase64",
        TENANCY_AUDIT_SIGNING_KEY: "short",
        TENANCY_REDIS_URL: listener.url("redis"),
        TENANCY_DATABASE_URL: listener.url("postgres"),
      });
      const result = await createTenancy(bad, { migrate: true });
      expect(result.isErr()).toBe(true);
      const error = result._unsafeUnwrapErr();
      expect(error.type).toBe("InvalidConfig");
      const variables = error.type === "InvalidConfig" ? error.problems.map((p) => p.variable) : [];
      expect(variables.sort()).toEqual(["TENANCY_AUDIT_SIGNING_KEY", "TENANCY_QUOTA_PLANS", "TENANCY_ROOT_KEYS"]);
      expect(error.message).toMatch(/TENANCY_ROOT_KEYS/);
      await listener.settle();
      expect(listener.connections()).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it("refuses a closeTimeoutMs that is not a finite number ≥ 0 (a programmer's error) with a TypeError", async () => {
    await expect(createTenancy(config({}), { closeTimeoutMs: Number.NaN })).rejects.toThrow(TypeError);
    await expect(createTenancy(config({}), { closeTimeoutMs: -1 })).rejects.toThrow(/closeTimeoutMs/);
  });

  it("refuses a URL and a client of one's own for the same server, before opening anything", async () => {
    const listener = await countingServer();
    const redis = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false });
    const pool = new pg.Pool();
    try {
      const both = config({ TENANCY_QUOTA_PLANS: PLANS, TENANCY_REDIS_URL: listener.url("redis"), TENANCY_DATABASE_URL: listener.url("postgres") });
      const error = (await createTenancy(both, { clients: { redis, pool }, migrate: true }))._unsafeUnwrapErr();
      expect(error.type === "InvalidConfig" && error.problems.map((p) => p.variable).sort()).toEqual(["TENANCY_DATABASE_URL", "TENANCY_REDIS_URL"]);
      expect(error.message).toMatch(/keep one/);
      await listener.settle();
      expect(listener.connections()).toBe(0);
      expect(redis.status).toBe("wait"); // never connected
      expect(pool.totalCount).toBe(0);
    } finally {
      await pool.end();
      await listener.close();
    }
  });

  it("refuses a Redis client of one's own that re-sends commands after a reconnect, before opening anything", async () => {
    const listener = await countingServer();
    const redis = new Redis({ lazyConnect: true }); // ioredis' default: autoResendUnfulfilledCommands true
    try {
      const env = { TENANCY_QUOTA_PLANS: PLANS, TENANCY_DATABASE_URL: listener.url("postgres") };
      const error = (await createTenancy(config(env), { clients: { redis }, migrate: true }))._unsafeUnwrapErr();
      expect(error.type === "InvalidConfig" && error.problems).toEqual([{ variable: "clients.redis", reason: expect.stringMatching(/autoResendUnfulfilledCommands: false/) }]);
      await listener.settle();
      expect(listener.connections()).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it("refuses pool settings given together with a pool of one's own (they would not apply)", async () => {
    const pool = new pg.Pool();
    try {
      const error = (await createTenancy(config({}), { clients: { pool }, pool: { max: 5 } }))._unsafeUnwrapErr();
      expect(error.type === "InvalidConfig" && error.problems.map((p) => p.variable)).toEqual(["pool"]);
    } finally {
      await pool.end();
    }
  });
});

/** A TCP server that counts (and drops) connections, standing in for Redis and Postgres. */
async function countingServer() {
  const server = await tcpServer((socket) => socket.destroy());
  return {
    ...server,
    url: (scheme: "redis" | "postgres") =>
      scheme === "redis" ? `redis://127.0.0.1:${server.port}` : `postgres://postgres@127.0.0.1:${server.port}/postgres`,
    /** Gives a client opened by mistake the time to connect (ioredis and pg connect within milliseconds on loopback). */
    settle: () => new Promise((resolve) => setTimeout(resolve, 200)),
  };
}
