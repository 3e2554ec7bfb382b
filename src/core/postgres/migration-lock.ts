/**
 * The advisory lock every tenancykit migration takes ("tenancyk" in ASCII).
 * Replicas migrating at once would otherwise race their `create … if not
 * exists` and fail with a unique violation in pg_type.
 */
const MIGRATION_LOCK = "8387231245790312811";

/** `sql` behind that lock, for one `exec` (its statements run as one implicit transaction, which holds the lock). */
export function underMigrationLock(sql: string): string {
  return `select pg_advisory_xact_lock(${MIGRATION_LOCK});\n${sql}`;
}
