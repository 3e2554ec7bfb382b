/**
 * tenancykit/audit/postgres: the durable AuditStore on Postgres (`pg` Pool,
 * drizzle or PGlite), its drizzle tables and SQL migration.
 */
import { err, ok, type Result } from "neverthrow";
import { invalidInput, type InvalidInputError } from "../core/errors.js";
import { toSqlClient, type PostgresSource } from "../core/postgres/sql-client.js";
import { PostgresAuditStore } from "./postgres/store.js";

export { PostgresAuditStore } from "./postgres/store.js";
export { AUDIT_MIGRATION_SQL, migrateAuditTables } from "./postgres/migration.js";
export { auditCheckpoint, auditEntry, auditHead, auditIdempotency, auditPrune } from "./postgres/schema.js";

/**
 * Wraps a `pg` Pool, a drizzle database or a PGlite instance as an AuditStore.
 *
 * @example
 * const store = postgresAuditStore(db());  // Dittofeed's drizzle database
 * if (store.isErr()) throw new Error(store.error.message);
 */
export function postgresAuditStore(source: PostgresSource): Result<PostgresAuditStore, InvalidInputError> {
  const sql = toSqlClient(source);
  if (sql === undefined) return err(invalidInput("expected a pg Pool, a drizzle database or a PGlite instance"));
  return ok(new PostgresAuditStore(sql));
}
