import { err, ok, type Result } from "neverthrow";
import { AUDIT_MIGRATION_SQL } from "../audit/postgres/migration.js";
import { PostgresAuditStore } from "../audit/postgres/store.js";
import type { AuditStore } from "../audit/store.js";
import { sqlResult, type SqlError } from "../core/postgres/result.js";
import { toSqlClient, type PgPoolLike } from "../core/postgres/sql-client.js";
import { CRYPTO_MIGRATION_SQL } from "../crypto/postgres/migration.js";
import { postgresKeyStore } from "../crypto/postgres/key-store.js";
import type { KeyStore } from "../crypto/keys/key-store.js";

/** The advisory lock key taken while migrating (an arbitrary constant: "tenancyk" in ASCII). */
const MIGRATION_LOCK = "8387231245790312811";

/** The Postgres-backed stores, or none (the primitives' memory defaults) without a pool. */
export interface DurableStores {
  readonly audit: AuditStore | undefined;
  readonly keys: KeyStore | undefined;
}

/**
 * The audit and key stores on `pool`, after creating their tables when
 * `migrate` is set. These modules are imported directly, not through their
 * subpath entries, which also export drizzle tables: no drizzle-orm needed.
 */
export async function durableStores(pool: PgPoolLike | undefined, migrate: boolean): Promise<Result<DurableStores, SqlError>> {
  if (pool === undefined) return ok({ audit: undefined, keys: undefined });
  const sql = toSqlClient(pool)!;
  if (migrate) {
    // Replicas starting together would race their `create … if not exists` (a unique violation in
    // pg_type): the statements run as one implicit transaction, serialised by this lock.
    const created = await sqlResult("create the audit and key store tables", () =>
      sql.exec(`select pg_advisory_xact_lock(${MIGRATION_LOCK});\n${AUDIT_MIGRATION_SQL}\n${CRYPTO_MIGRATION_SQL}`),
    );
    if (created.isErr()) return err(created.error);
  }
  return ok({ audit: new PostgresAuditStore(sql), keys: postgresKeyStore(pool) });
}
