/**
 * SQL identifiers. Dittofeed's tables are quoted PascalCase ("Segment") with
 * camelCase columns ("workspaceId"), so every identifier we emit is quoted;
 * an unquoted name would be folded to lower case and miss the table.
 */

/** Quotes one identifier, doubling embedded quotes (the SQL standard escape). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table that carries a workspace column. */
export interface TenantTable {
  /** Table name exactly as in the catalog, e.g. `Segment`. */
  readonly name: string;
  /** @default "public" */
  readonly schema?: string;
  /** The workspace column; @default detected, else `workspace_id`. */
  readonly column?: string;
}

/** `"schema"."Table"` */
export function qualifiedName(table: { readonly name: string; readonly schema?: string }): string {
  return `${quoteIdent(table.schema ?? "public")}.${quoteIdent(table.name)}`;
}

/** Column names we recognise as the workspace column, in order of preference. */
export const WORKSPACE_COLUMN_CANDIDATES = ["workspace_id", "workspaceId"] as const;

/**
 * Picks the workspace column among a table's columns: an explicit preference
 * first, then `workspace_id`, then `workspaceId`. Undefined when none is there.
 */
export function detectWorkspaceColumn(columns: readonly string[], preferred?: string): string | undefined {
  if (preferred !== undefined) return columns.includes(preferred) ? preferred : undefined;
  return WORKSPACE_COLUMN_CANDIDATES.find((candidate) => columns.includes(candidate));
}

/** The column to use for a declared table: its own, else the default. */
export function columnOf(table: TenantTable, fallback = "workspace_id"): string {
  return table.column ?? fallback;
}
