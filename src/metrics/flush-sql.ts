/**
 * The usage table (one row per workspace, metric and window, holding the
 * usage in that window) and the flush ledger that makes flushes idempotent.
 * The drizzle definitions in `./postgres.ts` describe the same tables.
 */
export const USAGE_TABLE = "tenancy_metric_usage";
export const FLUSH_TABLE = "tenancy_metric_flushes";

export const METRICS_MIGRATION_SQL = `
create table if not exists ${USAGE_TABLE} (
  workspace_id uuid not null,
  metric text not null,
  window_start timestamptz not null,
  value double precision not null,
  updated_at timestamptz not null default now(),
  primary key (workspace_id, metric, window_start)
);
create table if not exists ${FLUSH_TABLE} (
  flush_id text primary key,
  rows integer not null,
  flushed_at timestamptz not null default now()
);
`;

/** Claims a flush id; returns a row only the first time, so a replayed batch is skipped. */
export const CLAIM_FLUSH_SQL = `insert into ${FLUSH_TABLE} (flush_id, rows) values ($1, $2) on conflict (flush_id) do nothing returning flush_id`;

/** Adds a batch of per-window usage deltas (one row per key; the caller merges duplicates). */
export const UPSERT_USAGE_SQL = `
insert into ${USAGE_TABLE} (workspace_id, metric, window_start, value)
select w, m, to_timestamp($3::double precision / 1000), v
from unnest($1::uuid[], $2::text[], $4::double precision[]) as t(w, m, v)
on conflict (workspace_id, metric, window_start)
do update set value = ${USAGE_TABLE}.value + excluded.value, updated_at = now()`;
