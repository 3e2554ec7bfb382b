import { qualifiedName, quoteIdent, type TenantTable } from "./identifiers.js";
import { policySpecs, type PolicyOptions, type PolicySpec } from "./policy.js";

export interface PolicyMigrationOptions extends PolicyOptions {
  /** Workspace column for tables that do not name one. @default "workspace_id" */
  readonly column?: string;
  /** Roles the policies apply to. @default ["public"] (every role, so none escapes by accident) */
  readonly roles?: readonly string[];
}

function policyStatement(table: string, spec: PolicySpec, roles: string): string {
  const parts = [`CREATE POLICY ${quoteIdent(spec.name)} ON ${table} AS PERMISSIVE FOR ${spec.command.toUpperCase()} TO ${roles}`];
  if (spec.using !== undefined) parts.push(`USING (${spec.using})`);
  if (spec.withCheck !== undefined) parts.push(`WITH CHECK (${spec.withCheck})`);
  return parts.join(" ");
}

function rolesList(roles: readonly string[] | undefined): string {
  if (roles === undefined || roles.length === 0) return "public";
  return roles.map((role) => (role.toLowerCase() === "public" ? "public" : quoteIdent(role))).join(", ");
}

/**
 * The statements that make one table tenant-scoped: ENABLE and FORCE row level
 * security (FORCE so the owner obeys the policies too; drizzle cannot express
 * it) and one policy per command. Re-runnable: each policy is dropped first.
 */
export function tablePolicyStatements(table: TenantTable, options: PolicyMigrationOptions = {}): string[] {
  const name = qualifiedName(table);
  const column = table.column ?? options.column ?? "workspace_id";
  const roles = rolesList(options.roles);
  const statements = [`ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY`, `ALTER TABLE ${name} FORCE ROW LEVEL SECURITY`];
  for (const spec of policySpecs(column, options)) {
    statements.push(`DROP POLICY IF EXISTS ${quoteIdent(spec.name)} ON ${name}`);
    statements.push(policyStatement(name, spec, roles));
  }
  return statements;
}

/**
 * A SQL migration for every tenant table, as drizzle-kit custom migration
 * text (`--> statement-breakpoint` between statements, so `drizzle-kit
 * migrate` runs them one by one; plain `psql` reads it too).
 *
 * @example
 * writeFileSync("drizzle/0011_tenancy_rls.sql", policyMigrationSql(tables, { column: "workspaceId" }));
 */
export function policyMigrationSql(tables: readonly TenantTable[], options: PolicyMigrationOptions = {}): string {
  const header = "-- tenancykit: row level security for every workspace-scoped table (generated)\n";
  const statements = tables.flatMap((table) => tablePolicyStatements(table, options));
  return header + statements.map((s) => `${s};`).join("\n--> statement-breakpoint\n") + "\n";
}

/** The statements that undo `tablePolicyStatements` (for a down migration). */
export function tableRevertStatements(table: TenantTable, options: PolicyMigrationOptions = {}): string[] {
  const name = qualifiedName(table);
  const column = table.column ?? options.column ?? "workspace_id";
  return [
    ...policySpecs(column, options).map((spec) => `DROP POLICY IF EXISTS ${quoteIdent(spec.name)} ON ${name}`),
    `ALTER TABLE ${name} NO FORCE ROW LEVEL SECURITY`,
    `ALTER TABLE ${name} DISABLE ROW LEVEL SECURITY`,
  ];
}
