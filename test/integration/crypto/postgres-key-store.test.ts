import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { TenantCipher } from "../../../src/crypto/index.js";
import { migrateKeyStore, postgresKeyStore, tenancyDataKeys } from "../../../src/crypto/postgres.js";
import { runKeyStoreContract } from "../../../src/testing/crypto-contract.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { pgbouncerUrl } from "../../support/servers.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
let bouncerPool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_crypto");
  pool = new pg.Pool({ connectionString: database.url, max: 8 });
  // Idle clients see the backend terminated when the test database is dropped; a pool needs an error listener.
  pool.on("error", () => undefined);
  (await migrateKeyStore(pool))._unsafeUnwrap();
  (await migrateKeyStore(pool))._unsafeUnwrap(); // idempotent
  bouncerPool = new pg.Pool({ connectionString: pgbouncerUrl(servers, new URL(database.url).pathname.slice(1)), max: 8 });
  // Idle clients see the backend terminated when the test database is dropped; a pool needs an error listener.
  bouncerPool.on("error", () => undefined);
});
afterAll(async () => {
  await bouncerPool.end();
  await pool.end();
  await database.drop();
});

runKeyStoreContract({ describe, it, expect }, "Postgres 15 (pg Pool)", () => postgresKeyStore(pool));
runKeyStoreContract({ describe, it, expect }, "Postgres 15 (drizzle)", () => postgresKeyStore(drizzle({ client: pool })));
// Transaction-scoped advisory locks and no session state: the store works behind PgBouncer in transaction mode.
runKeyStoreContract({ describe, it, expect }, "Postgres 15 via PgBouncer (transaction mode)", () => postgresKeyStore(bouncerPool));

const rootKeys = `pg-root:${randomBytes(32).toString("base64")}`;
const purpose = "secret:sendgrid";

describe("Postgres key store across processes", () => {
  it("the drizzle table reads the rows the store writes", async () => {
    const cipher = new TenantCipher({ rootKeys, store: postgresKeyStore(pool) });
    const workspaceId = randomUUID();
    (await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }))._unsafeUnwrap();
    const rows = await drizzle({ client: pool }).select().from(tenancyDataKeys);
    const mine = rows.filter((r) => r.workspaceId === workspaceId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ version: 1, state: "active", rootKeyId: "pg-root" });
    expect(mine[0]?.wrappedKey).toHaveLength(72);
  });

  it("a destroy in this process is honoured by another process within its cache max age", async () => {
    const maxAgeMs = 1_500;
    const cipher = new TenantCipher({ rootKeys, store: postgresKeyStore(pool), cache: { maxAgeMs } });
    const workspaceId = randomUUID();
    const ciphertext = (await cipher.encryptText({ workspaceId, purpose, plaintext: "pii" }))._unsafeUnwrap();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "test/integration/crypto/destroy-worker.ts", database.url, rootKeys, workspaceId, purpose, ciphertext, String(maxAgeMs)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const lines: { at: number; ok?: string; error?: string; encrypt?: string }[] = [];
    const reader = createInterface({ input: child.stdout });
    let destroyedAt = 0;
    const finished = new Promise<void>((resolve, reject) => {
      reader.on("line", (line) => {
        const parsed = JSON.parse(line) as { at: number; ok?: string; error?: string; encrypt?: string };
        lines.push(parsed);
        if (parsed.encrypt !== undefined) resolve();
      });
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}: ${stderr}`))));
    });
    // Wait until the other process has the key cached and is decrypting.
    while (!lines.some((l) => l.ok === "pii")) {
      if (child.exitCode !== null) throw new Error(`worker died: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    (await cipher.destroy({ workspaceId, by: "integration-test" }))._unsafeUnwrap();
    destroyedAt = Date.now();
    // In this process: at once.
    expect((await cipher.decryptText({ workspaceId, purpose, ciphertext }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    // Settles within a generous bound; the exact claim is checked on the timestamps below.
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`no KeyDestroyed in worker: ${JSON.stringify(lines.slice(-3))} ${stderr}`)), maxAgeMs + 20_000))]);
    const lastOk = Math.max(...lines.filter((l) => l.ok !== undefined).map((l) => l.at));
    const firstDestroyed = lines.find((l) => l.error === "KeyDestroyed");
    expect(lines.filter((l) => l.error !== undefined && l.error !== "KeyDestroyed")).toEqual([]);
    // The other process can only have decrypted with an entry loaded before the destroy committed, which expires maxAge later.
    expect(lastOk).toBeLessThan(destroyedAt + maxAgeMs);
    expect(firstDestroyed).toBeDefined();
    expect(lines.at(-1)?.encrypt).toBe("KeyDestroyed");
    const { rows } = await pool.query("select wrapped_key, state from tenancy_data_keys where workspace_id = $1", [workspaceId]);
    expect(rows).toEqual([{ wrapped_key: null, state: "destroyed" }]);
    const tomb = await pool.query("select destroyed_by from tenancy_key_tombstones where workspace_id = $1", [workspaceId]);
    expect(tomb.rows).toEqual([{ destroyed_by: "integration-test" }]);
  });

  it("racing rotations and a destroy over separate connections never leave a live key after the tombstone", async () => {
    for (let round = 0; round < 10; round++) {
      const workspaceId = randomUUID();
      const processes = Array.from({ length: 4 }, () => new TenantCipher({ rootKeys, store: postgresKeyStore(pool) }));
      (await processes[0]!.encrypt({ workspaceId, purpose, plaintext: "x" }))._unsafeUnwrap();
      const racing = [
        ...processes.slice(1).flatMap((p) => [p.rotate({ workspaceId }), p.rotate({ workspaceId })]),
        processes[0]!.destroy({ workspaceId, by: "race" }),
      ];
      const outcomes = await Promise.all(racing);
      expect(outcomes.at(-1)?.isOk()).toBe(true);
      for (const o of outcomes.slice(0, -1)) {
        if (o.isErr()) expect(["KeyDestroyed", "StoreFailed"]).toContain(o.error.type);
      }
      const { rows } = await pool.query<{ state: string; wrapped_key: Buffer | null }>(
        "select state, wrapped_key from tenancy_data_keys where workspace_id = $1",
        [workspaceId],
      );
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect(rows.every((r) => r.state === "destroyed" && r.wrapped_key === null)).toBe(true);
    }
  });
});
