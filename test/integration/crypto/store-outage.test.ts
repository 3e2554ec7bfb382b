import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantCipher } from "../../../src/crypto/index.js";
import { migrateKeyStore, postgresKeyStore } from "../../../src/crypto/postgres.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let proxy: TcpProxy;
let pool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_crypto_outage");
  const url = new URL(database.url);
  proxy = await startTcpProxy(Number(url.port));
  url.port = String(proxy.port);
  pool = new pg.Pool({ connectionString: url.toString(), max: 2, query_timeout: 1_000, connectionTimeoutMillis: 1_000 });
  // Idle clients see the backend terminated when the test database is dropped; a pool needs an error listener.
  pool.on("error", () => undefined);
  (await migrateKeyStore(pool))._unsafeUnwrap();
});
afterAll(async () => {
  proxy.blackhole(false);
  await pool.end().catch(() => undefined);
  await proxy.close();
  await database.drop();
});

describe("key store outage (network path blackholed)", () => {
  it("serves warm workspaces from the cache, fails closed with a typed error after max age, and recovers", async () => {
    const clock = new ManualClock(Date.now());
    const cipher = new TenantCipher({
      rootKeys: `outage:${randomBytes(32).toString("base64")}`,
      store: postgresKeyStore(pool),
      clock,
      cache: { maxAgeMs: 60_000 },
    });
    const warm = randomUUID();
    const cold = randomUUID();
    const purpose = "secret:sendgrid";
    const sealed = (await cipher.encrypt({ workspaceId: warm, purpose, plaintext: "before" }))._unsafeUnwrap();
    proxy.blackhole(true);
    for (let i = 0; i < 1_000; i++) {
      const again = (await cipher.encrypt({ workspaceId: warm, purpose, plaintext: `during ${i}` }))._unsafeUnwrap();
      expect((await cipher.decrypt({ workspaceId: warm, purpose, ciphertext: again })).isOk()).toBe(true);
    }
    const coldResult = await cipher.encrypt({ workspaceId: cold, purpose, plaintext: "x" });
    expect(coldResult._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
    clock.advance(60_000);
    const expired = await cipher.decrypt({ workspaceId: warm, purpose, ciphertext: sealed });
    expect(expired._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
    proxy.blackhole(false);
    // The pool may hold connections broken by the outage; a retry loop is what callers do on a retryable error.
    let recovered = await cipher.decrypt({ workspaceId: warm, purpose, ciphertext: sealed });
    for (let attempt = 0; attempt < 5 && recovered.isErr(); attempt++) recovered = await cipher.decrypt({ workspaceId: warm, purpose, ciphertext: sealed });
    expect(Buffer.from(recovered._unsafeUnwrap()).toString()).toBe("before");
  });
});
