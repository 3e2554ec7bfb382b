import { err, ok, type Result } from "neverthrow";
import { migrateAudit } from "../audit/postgres/migration.js";
import { PostgresAuditStore } from "../audit/postgres/store.js";
import type { AuditStore } from "../audit/store.js";
import type { SqlError } from "../core/postgres/result.js";
import { toSqlClient, type PgPoolLike } from "../core/postgres/sql-client.js";
import { migrateKeyStore, postgresKeyStore } from "../crypto/postgres/key-store.js";
import type { KeyStore } from "../crypto/keys/key-store.js";

/** The Postgres-backed stores, or none (the primitives' memory defaults) without a pool. */
export interface DurableStores {
  readonly audit: AuditStore | undefined;
  readonly keys: KeyStore | undefined;
}

/**
 * The audit and key stores on `pool`, after creating their tables when
 * `migrate` is set (each migration behind the shared advisory lock, so
 * replicas starting together do not race). These modules are imported
 * directly, not through their subpath entries, which also export drizzle
 * tables: no drizzle-orm needed.
 */
export async function durableStores(pool: PgPoolLike | undefined, migrate: boolean): Promise<Result<DurableStores, SqlError>> {
  if (pool === undefined) return ok({ audit: undefined, keys: undefined });
  const sql = toSqlClient(pool)!;
  if (migrate) {
    const audit = await migrateAudit(sql);
    if (audit.isErr()) return err(audit.error);
    const keys = await migrateKeyStore(pool);
    if (keys.isErr()) return err(keys.error);
  }
  return ok({ audit: new PostgresAuditStore(sql), keys: postgresKeyStore(pool) });
}
