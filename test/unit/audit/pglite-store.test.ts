import { PGlite } from "@electric-sql/pglite";
import { describe, expect, it } from "vitest";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { runAuditStoreContract } from "../../../src/testing/audit-contract.js";

// PGlite is real Postgres compiled to WASM: the embedded default, no server needed.
const db = new PGlite();
const ready = migrateAuditTables(db);
runAuditStoreContract({ describe, it, expect }, "postgres on PGlite", async () => {
  (await ready)._unsafeUnwrap();
  return postgresAuditStore(db)._unsafeUnwrap();
});
