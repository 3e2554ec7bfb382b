import type { SqlExecutor } from "../core/postgres/sql-client.js";

/** What the catalog checks read, per table. */
export interface CatalogTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly string[];
  readonly rlsEnabled: boolean;
  readonly rlsForced: boolean;
  /** The table this one is a partition of (its immediate parent), if it is one. */
  readonly partitionOf?: { readonly schema: string; readonly name: string };
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
  /** A partition's copy of an index of its parent. */
  readonly inherited?: boolean;
}
export interface CatalogForeignKey {
  readonly schema: string;
  readonly table: string;
  readonly name: string;
  readonly columns: readonly string[];
  /** A partition's copy of a foreign key of its parent. */
  readonly inherited?: boolean;
}
export interface Catalog {
  readonly tables: readonly CatalogTable[];
  readonly policies: readonly CatalogPolicy[];
  readonly indexes: readonly CatalogIndex[];
  readonly foreignKeys: readonly CatalogForeignKey[];
}

/**
 * The relations checked: tables in the given schemas, plus every partition
 * whose root is in them (wherever the partition lives). A partition is a
 * table of its own: queried by its name it applies its own row level
 * security, not its parent's, and `GRANT … ON ALL TABLES` reaches it.
 */
const RELATIONS_CTE = `with rels as (
  select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and (n.nspname = any($1::text[]) or (c.relispartition and exists (
    select 1 from pg_class r join pg_namespace rn on rn.oid = r.relnamespace
    where r.oid = pg_partition_root(c.oid) and rn.nspname = any($1::text[]))))
)`;

const TABLES_SQL = `${RELATIONS_CTE}
  select n.nspname as schema, c.relname as name, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
    pn.nspname as parent_schema, p.relname as parent_name,
    coalesce(array_agg(a.attname::text order by a.attnum) filter (where a.attnum > 0), '{}') as columns
  from rels join pg_class c on c.oid = rels.oid join pg_namespace n on n.oid = c.relnamespace
  left join pg_inherits i on c.relispartition and i.inhrelid = c.oid
  left join pg_class p on p.oid = i.inhparent
  left join pg_namespace pn on pn.oid = p.relnamespace
  left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  group by 1, 2, 3, 4, 5, 6 order by 1, 2`;

// pg_policies without its schema filter, so that partitions outside the schemas are read too.
const POLICIES_SQL = `${RELATIONS_CTE}
  select n.nspname as schema, c.relname as table, p.polname as name,
    case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end as command,
    p.polpermissive as permissive, pg_get_expr(p.polqual, p.polrelid) as using, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
  from pg_policy p join rels on rels.oid = p.polrelid join pg_class c on c.oid = p.polrelid
  join pg_namespace n on n.oid = c.relnamespace order by 1, 2, 3`;

// indkey is an int2vector: unnest it with its ordinality to keep column order.
// inherited: the index is a partition's copy of an index on its parent (the parent's is checked).
const INDEXES_SQL = `${RELATIONS_CTE}
  select n.nspname as schema, t.relname as table, i.relname as name, x.indisunique as unique,
    x.indisprimary as primary, i.relispartition as inherited,
    array(select a.attname::text from unnest(x.indkey[0:x.indnkeyatts - 1]) with ordinality k(attnum, ord)
          left join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord) as columns
  from pg_index x join rels on rels.oid = x.indrelid join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
  join pg_namespace n on n.oid = t.relnamespace
  order by 1, 2, 3`;

// inherited: a partition's copy of a foreign key declared on its parent.
const FOREIGN_KEYS_SQL = `${RELATIONS_CTE}
  select n.nspname as schema, t.relname as table, c.conname as name, c.conparentid <> 0 as inherited,
    array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, ord)
          join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord) as columns
  from pg_constraint c join rels on rels.oid = c.conrelid join pg_class t on t.oid = c.conrelid
  join pg_namespace n on n.oid = t.relnamespace
  where c.contype = 'f' order by 1, 2, 3`;

/** Reads the parts of the catalog the checks need, for the given schemas. */
export async function readCatalog(db: SqlExecutor, schemas: readonly string[]): Promise<Catalog> {
  const params = [schemas];
  const tables = await db.query<{
    schema: string; name: string; enabled: boolean; forced: boolean; parent_schema: string | null; parent_name: string | null; columns: string[];
  }>(TABLES_SQL, params);
  const policies = await db.query<{
    schema: string; table: string; name: string; command: string; permissive: boolean; using: string | null; with_check: string | null;
  }>(POLICIES_SQL, params);
  const indexes = await db.query<CatalogIndex>(INDEXES_SQL, params);
  const foreignKeys = await db.query<CatalogForeignKey>(FOREIGN_KEYS_SQL, params);
  return {
    tables: tables.rows.map((t) => ({
      schema: t.schema, name: t.name, columns: t.columns, rlsEnabled: t.enabled, rlsForced: t.forced,
      ...(t.parent_name === null || t.parent_schema === null ? {} : { partitionOf: { schema: t.parent_schema, name: t.parent_name } }),
    })),
    policies: policies.rows.map((p) => ({
      schema: p.schema, table: p.table, name: p.name, command: p.command, permissive: p.permissive, using: p.using, withCheck: p.with_check,
    })),
    indexes: indexes.rows,
    foreignKeys: foreignKeys.rows,
  };
}
