import { createCipheriv, randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { getSecretValue, migrateSecrets, upsertSecret } from "../../../examples/dittofeed/crypto-secrets.js";
import { migrateKeyStore } from "../../../src/crypto/postgres.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const SECRET_KEY = randomBytes(32);

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_crypto_df");
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  // Idle clients see the backend terminated when the test database is dropped; a pool needs an error listener.
  pool.on("error", () => undefined);
  await applyFixtureSchema(pool);
  (await migrateKeyStore(pool))._unsafeUnwrap();
  process.env.TENANCY_ROOT_KEYS = `df-root:${randomBytes(32).toString("base64")}`;
});
afterAll(async () => {
  delete process.env.TENANCY_ROOT_KEYS;
  await pool.end();
  await database.drop();
});

async function newWorkspace(): Promise<string> {
  const id = randomUUID();
  await pool.query(`insert into "Workspace" (id, name) values ($1, $2)`, [id, `ws-${id}`]);
  return id;
}

describe("examples/dittofeed/crypto-secrets.ts on real Postgres with the Dittofeed-shaped schema", () => {
  it("stores Secret.value encrypted per workspace and reads it back; a row moved across workspaces does not decrypt", async () => {
    const [a, b] = [await newWorkspace(), await newWorkspace()];
    (await upsertSecret({ pool, workspaceId: a, name: "sendgrid", value: "SG.live-key" }))._unsafeUnwrap();
    (await upsertSecret({ pool, workspaceId: b, name: "postmark", value: "pm-key" }))._unsafeUnwrap();
    const { rows } = await pool.query<{ value: string }>(`select value from "Secret" where "workspaceId" = $1 and name = 'sendgrid'`, [a]);
    expect(rows[0]?.value).toMatch(/^tc1\./);
    expect(rows[0]?.value).not.toContain("SG.live-key");
    expect((await getSecretValue({ pool, workspaceId: a, name: "sendgrid" }))._unsafeUnwrap()).toBe("SG.live-key");
    await pool.query(`insert into "Secret" ("workspaceId", name, value) values ($1, 'sendgrid', $2)`, [b, rows[0]?.value]);
    expect((await getSecretValue({ pool, workspaceId: b, name: "sendgrid" }))._unsafeUnwrapErr().type).toBe("AuthFailed");
    expect((await getSecretValue({ pool, workspaceId: b, name: "missing" }))._unsafeUnwrap()).toBeNull();
  });

  it("migrates plaintext and legacy secrets.ts rows in place", async () => {
    const workspaceId = await newWorkspace();
    const iv = randomBytes(16);
    const legacy = createCipheriv("aes-256-gcm", SECRET_KEY, iv);
    const encryptedData = Buffer.concat([legacy.update("gmail-refresh-token", "utf8"), legacy.final()]).toString("hex");
    const legacyValue = JSON.stringify({ iv: iv.toString("hex"), encryptedData, authTag: legacy.getAuthTag().toString("hex") });
    await pool.query(`insert into "Secret" ("workspaceId", name, value) values ($1, 'gmail', $2), ($1, 'twilio', 'AC-plain')`, [workspaceId, legacyValue]);
    const stats = (await migrateSecrets({ pool, legacySecretKey: new Uint8Array(SECRET_KEY) }))._unsafeUnwrap();
    expect(stats.fromLegacy).toBeGreaterThanOrEqual(1);
    expect(stats.fromPlaintext).toBeGreaterThanOrEqual(1);
    // Rows already on their workspace's current key version are left alone without decrypting them
    // (the row copied to workspace b above counts as current; reading it still fails with AuthFailed).
    expect(stats.failed).toBe(0);
    expect((await getSecretValue({ pool, workspaceId, name: "gmail" }))._unsafeUnwrap()).toBe("gmail-refresh-token");
    expect((await getSecretValue({ pool, workspaceId, name: "twilio" }))._unsafeUnwrap()).toBe("AC-plain");
    const again = (await migrateSecrets({ pool, legacySecretKey: new Uint8Array(SECRET_KEY) }))._unsafeUnwrap();
    expect(again).toMatchObject({ reencrypted: 0, fromLegacy: 0, fromPlaintext: 0 });
  });
});
