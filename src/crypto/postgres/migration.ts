/**
 * The key store's tables (schema.ts) as plain SQL (idempotent), for setups
 * without drizzle-kit. Kept apart from the drizzle definitions so the key
 * store itself never loads drizzle-orm.
 */
export const CRYPTO_MIGRATION_SQL = `
create table if not exists tenancy_data_keys (
  workspace_id uuid not null,
  version bigint not null check (version between 1 and 4294967295),
  wrapped_key bytea,
  root_key_id text not null,
  state text not null check (state in ('active', 'retired', 'destroyed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, version),
  check ((state = 'destroyed') = (wrapped_key is null))
);
create table if not exists tenancy_key_tombstones (
  workspace_id uuid primary key,
  destroyed_at timestamptz not null,
  destroyed_by text not null,
  versions_destroyed integer not null
);
`;
