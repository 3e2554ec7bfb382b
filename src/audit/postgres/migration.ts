/**
 * The SQL that creates the audit tables. It matches the drizzle definitions
 * in schema.ts column for column (a unit test checks that) and adds what
 * drizzle-kit cannot express: `audit_entry` is partitioned by month on
 * `recorded_at`, so retention drops whole partitions. Partitions are created
 * on demand by the store (`create table if not exists … partition of`).
 * It also creates the batch appends, `audit_append_chained` (chained in Node)
 * and `audit_append_locked` (chained in Postgres, under the head locks), and
 * drops `audit_append_batch` and the earlier `audit_append_chained`s.
 * Every statement is idempotent, so applying it twice is harmless.
 */
import { err, type Result } from "neverthrow";
import { invalidInput, type InvalidInputError } from "../../core/errors.js";
import { underMigrationLock } from "../../core/postgres/migration-lock.js";
import { sqlResult, type SqlError } from "../../core/postgres/result.js";
import { toSqlClient, type PostgresSource, type SqlClient } from "../../core/postgres/sql-client.js";
import { APPEND_FUNCTION_SQL, DROP_PREVIOUS_APPEND_FUNCTIONS } from "./append-function.js";
import { LOCKED_APPEND_FUNCTION_SQL } from "./locked-append-function.js";

export const AUDIT_MIGRATION_SQL = `
create table if not exists audit_head (
  workspace_id uuid primary key,
  seq bigint not null default 0,
  hash bytea not null default decode(repeat('00', 32), 'hex'),
  recorded_at_ms bigint not null default 0
);
create table if not exists audit_entry (
  workspace_id uuid not null,
  seq bigint not null,
  recorded_at timestamptz not null,
  prev_hash bytea not null,
  hash bytea not null,
  body text not null,
  personal jsonb,
  idempotency_key text,
  actor_type text not null,
  actor_id text not null,
  action text not null,
  outcome text not null,
  occurred_at timestamptz not null,
  targets jsonb not null,
  primary key (workspace_id, seq, recorded_at)
) partition by range (recorded_at);
create index if not exists audit_entry_actor_idx on audit_entry (workspace_id, actor_id, seq);
create index if not exists audit_entry_action_idx on audit_entry (workspace_id, action, seq);
create table if not exists audit_idempotency (
  workspace_id uuid not null,
  key text not null,
  seq bigint not null,
  hash bytea not null,
  recorded_at_ms bigint not null,
  primary key (workspace_id, key)
);
create table if not exists audit_checkpoint (
  workspace_id uuid not null,
  seq bigint not null,
  head_hash text not null,
  signed_at text not null,
  key_id text not null,
  signature text not null,
  primary key (workspace_id, seq)
);
create table if not exists audit_prune (
  workspace_id uuid not null,
  through_seq bigint not null,
  hash text not null,
  partition text not null,
  pruned_at text not null,
  key_id text not null,
  signature text not null,
  primary key (workspace_id, through_seq)
);
-- Superseded by audit_append_chained (chains computed in Node); unused since.
drop function if exists audit_append_batch(uuid[], text[], text[], text[], text[], text[], text[], text[], timestamptz[], text[], bigint);
${DROP_PREVIOUS_APPEND_FUNCTIONS}
${APPEND_FUNCTION_SQL}
${LOCKED_APPEND_FUNCTION_SQL}`;

/** Creates the audit tables (idempotent; safe for replicas starting together). Prefer adding AUDIT_MIGRATION_SQL to your own migrations. */
export async function migrateAuditTables(source: PostgresSource): Promise<Result<void, SqlError | InvalidInputError>> {
  const sql = toSqlClient(source);
  if (sql === undefined) return err(invalidInput("expected a pg Pool, a drizzle database or a PGlite instance"));
  return migrateAudit(sql);
}

/** migrateAuditTables on a client already resolved. */
export function migrateAudit(sql: SqlClient): Promise<Result<void, SqlError>> {
  return sqlResult("audit migration", () => sql.exec(underMigrationLock(AUDIT_MIGRATION_SQL)));
}
