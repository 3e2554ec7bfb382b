import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { runAuditStoreContract } from "../../../src/testing/audit-contract.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { pgbouncerUrl } from "../../support/servers.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
let bouncer: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_audit_store");
  pool = new pg.Pool({ connectionString: database.url, max: 6 });
  pool.on("error", () => undefined);
  (await migrateAuditTables(pool))._unsafeUnwrap();
  bouncer = new pg.Pool({ connectionString: pgbouncerUrl(servers, new URL(database.url).pathname.slice(1)), max: 4 });
  bouncer.on("error", () => undefined);
  // Applying the migration twice is harmless.
  (await migrateAuditTables(pool))._unsafeUnwrap();
});
afterAll(async () => {
  await pool.end();
  await bouncer.end();
  await database.drop();
});

runAuditStoreContract({ describe, it, expect }, "postgres 15 via a pg Pool", () => postgresAuditStore(pool)._unsafeUnwrap());
runAuditStoreContract({ describe, it, expect }, "postgres 15 via drizzle node-postgres", () =>
  postgresAuditStore(drizzle({ client: pool }))._unsafeUnwrap(),
);
// Each batch is one statement and every read is one statement, so PgBouncer's transaction pooling is fine.
runAuditStoreContract({ describe, it, expect }, "postgres 15 through PgBouncer (transaction pooling)", () =>
  postgresAuditStore(bouncer)._unsafeUnwrap(),
);
