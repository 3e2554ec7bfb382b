import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../../src/core/config.js";
import { generateRootKeyEntry } from "../../../src/crypto/root-key-gen.js";
import { createTenancy, type Tenancy } from "../../../src/tenancy/index.js";
import { createTestDatabase } from "../../support/postgres-server.js";

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
    expect(a.pool!.ended).toBe(true);
  });

  it("a Redis that is down at start-up does not fail the start: decisions come back degraded (the quota tests bound how fast), and close() returns", async () => {
    const port = await closedPort();
    const { TENANCY_DATABASE_URL: _unused, ...withoutDatabase } = env;
    const tenancy = (await createTenancy(loadConfig({ ...withoutDatabase, TENANCY_REDIS_URL: `redis://127.0.0.1:${port}`, TENANCY_REDIS_TIMEOUT_MS: "100" })._unsafeUnwrap()))._unsafeUnwrap();
    try {
      const decision = (await tenancy.quota!.consume({ workspaceId: randomUUID(), limit: "messages" }))._unsafeUnwrap();
      expect(decision.degraded).toBe(true);
    } finally {
      await tenancy.close();
    }
  });

  it("a Postgres that cannot be reached fails `migrate` with a typed Err, and closes what it opened", async () => {
    const unreachable = { ...env, TENANCY_DATABASE_URL: `${servers.postgresUrl.replace(/\/[^/]*$/, "")}/tk_no_such_database` };
    const result = await createTenancy(loadConfig(unreachable)._unsafeUnwrap(), { migrate: true });
    expect(result.isErr()).toBe(true);
    expect(["StoreUnavailable", "StoreFailed"]).toContain(result._unsafeUnwrapErr().type);
    expect(result._unsafeUnwrapErr().message).toMatch(/tk_no_such_database|does not exist/);
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
