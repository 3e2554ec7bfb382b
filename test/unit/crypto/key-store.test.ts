import { PGlite } from "@electric-sql/pglite";
import { describe, expect, it } from "vitest";
import { memoryKeyStore } from "../../../src/crypto/index.js";
import { migrateKeyStore, postgresKeyStore } from "../../../src/crypto/postgres.js";
import { runKeyStoreContract } from "../../../src/testing/crypto-contract.js";

runKeyStoreContract({ describe, it, expect }, "memory", () => memoryKeyStore());

let pglite: Promise<PGlite> | undefined;
runKeyStoreContract({ describe, it, expect }, "PGlite (embedded Postgres)", async () => {
  pglite ??= (async () => {
    const db = new PGlite();
    (await migrateKeyStore(db))._unsafeUnwrap();
    return db;
  })();
  return postgresKeyStore(await pglite);
});
