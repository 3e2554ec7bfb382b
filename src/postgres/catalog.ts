import type { SqlExecutor } from "../core/postgres/sql-client.js";

/** What the catalog checks read, per table. */
export interface CatalogTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly string[];
  readonly rlsEnabled: boolean;
  readonly rlsForced: boolean;
}
export interface CatalogPolicy {
  readonly schema: string;
  readonly table: string;
  readonly name: string;
  /** SELECT, INSERT, UPDATE, DELETE or ALL. */
  readonly command: string;
  readonly permissive: boolean;
  readonly using: string | null;
  readonly withCheck: string | null;
}
export interface CatalogIndex {
  readonly schema: string;
  readonly table: string;
  readonly name: string;
  /** Key columns in order; null for an expression column. */
  readonly columns: readonly (string | null)[];
  readonly unique: boolean;
  readonly primary: boolean;
}
export interface CatalogForeignKey {
  readonly schema: string;
  readonly table: string;
  readonly name: string;
  readonly columns: readonly string[];
}
export interface Catalog {
  readonly tables: readonly CatalogTable[];
  readonly policies: readonly CatalogPolicy[];
  readonly indexes: readonly CatalogIndex[];
  readonly foreignKeys: readonly CatalogForeignKey[];
}

const TABLES_SQL = `select n.nspname as schema, c.relname as name, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
    coalesce(array_agg(a.attname::text order by a.attnum) filter (where a.attnum > 0), '{}') as columns
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any($1::text[])
  group by 1, 2, 3, 4 order by 1, 2`;

const POLICIES_SQL = `select schemaname as schema, tablename as table, policyname as name, cmd as command,
    permissive = 'PERMISSIVE' as permissive, qual as using, with_check
  from pg_policies where schemaname = any($1::text[]) order by 1, 2, 3`;

// indkey is an int2vector: unnest it with its ordinality to keep column order.
const INDEXES_SQL = `select n.nspname as schema, t.relname as table, i.relname as name, x.indisunique as unique,
    x.indisprimary as primary,
    array(select a.attname::text from unnest(x.indkey[0:x.indnkeyatts - 1]) with ordinality k(attnum, ord)
          left join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord) as columns
  from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
  join pg_namespace n on n.oid = t.relnamespace
  where n.nspname = any($1::text[]) order by 1, 2, 3`;

const FOREIGN_KEYS_SQL = `select n.nspname as schema, t.relname as table, c.conname as name,
    array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, ord)
          join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord) as columns
  from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
  where c.contype = 'f' and n.nspname = any($1::text[]) order by 1, 2, 3`;

/** Reads the parts of the catalog the checks need, for the given schemas. */
export async function readCatalog(db: SqlExecutor, schemas: readonly string[]): Promise<Catalog> {
  const params = [schemas];
  const tables = await db.query<{ schema: string; name: string; enabled: boolean; forced: boolean; columns: string[] }>(TABLES_SQL, params);
  const policies = await db.query<{
    schema: string; table: string; name: string; command: string; permissive: boolean; using: string | null; with_check: string | null;
  }>(POLICIES_SQL, params);
  const indexes = await db.query<CatalogIndex>(INDEXES_SQL, params);
  const foreignKeys = await db.query<CatalogForeignKey>(FOREIGN_KEYS_SQL, params);
  return {
    tables: tables.rows.map((t) => ({ schema: t.schema, name: t.name, columns: t.columns, rlsEnabled: t.enabled, rlsForced: t.forced })),
    policies: policies.rows.map((p) => ({
      schema: p.schema, table: p.table, name: p.name, command: p.command, permissive: p.permissive, using: p.using, withCheck: p.with_check,
    })),
    indexes: indexes.rows,
    foreignKeys: foreignKeys.rows,
  };
}
