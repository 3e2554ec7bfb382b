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
 * A SQL string literal that reads the same whatever `standard_conforming_strings`
 * is: quotes doubled, and, when the text holds a backslash, an E'' literal with
 * each backslash doubled (as Postgres' own `quote_literal` does).
 */
export function literal(text: string): string {
  const quoted = text.replaceAll("'", "''");
  return text.includes("\\") ? `E'${quoted.replaceAll("\\", "\\\\")}'` : `'${quoted}'`;
}

/** A dollar-quote tag that does not occur in `body`. */
function dollarTag(body: string): string {
  let tag = "$tenancykit$";
  for (let n = 1; body.includes(tag); n++) tag = `$tenancykit${n}$`;
  return tag;
}

/** Stands for the partition in a statement template; Postgres names cannot hold U+0000. */
const PARTITION = "\u0000partition\u0000";

/**
 * One DO block that runs `statements` (written for the table named
 * PARTITION) on every partition, at any depth, of `table` that exists when
 * the migration runs. Row level security and policies are not inherited: a
 * partition queried by its own name applies only its own, and `GRANT … ON ALL
 * TABLES` reaches it. A table without partitions makes it a no-op. With
 * `onlyWithPolicies`, only partitions carrying a policy of one of those names
 * (chosen before any statement runs).
 */
function partitionsBlock(name: string, statements: readonly string[], onlyWithPolicies?: readonly string[]): string {
  const steps = statements.map((statement) => {
    const parts = statement.split(PARTITION).map(literal);
    return `    EXECUTE ${parts.join(" || part::text || ")};`;
  });
  const carrying = onlyWithPolicies === undefined
    ? []
    : [`        AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.relid AND p.polname::text = ANY (ARRAY[${onlyWithPolicies.map(literal).join(", ")}]::text[]))`];
  const body = [
    "",
    "DECLARE part regclass;",
    "BEGIN",
    `  FOR part IN SELECT t.relid FROM pg_partition_tree(${literal(name)}::regclass) t JOIN pg_class c ON c.oid = t.relid`,
    "      WHERE t.level > 0 AND c.relkind IN ('r', 'p')",
    ...carrying,
    "      ORDER BY t.level, t.relid LOOP",
    ...steps,
    "  END LOOP;",
    "END",
    "",
  ].join("\n");
  const tag = dollarTag(body);
  return `DO ${tag}${body}${tag}`;
}

function applyStatements(name: string, column: string, roles: string, options: PolicyMigrationOptions): string[] {
  const statements = [`ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY`, `ALTER TABLE ${name} FORCE ROW LEVEL SECURITY`];
  for (const spec of policySpecs(column, options)) {
    statements.push(`DROP POLICY IF EXISTS ${quoteIdent(spec.name)} ON ${name}`);
    statements.push(policyStatement(name, spec, roles));
  }
  return statements;
}

/**
 * The statements that make one table tenant-scoped: ENABLE and FORCE row level
 * security (FORCE so the owner obeys the policies too; drizzle cannot express
 * it) and one policy per command; then the same on each of its partitions
 * that exist when it runs (one DO block; PostgreSQL 12+). Re-runnable: each
 * policy is dropped first. A partition created later needs the migration run
 * again (or these statements for it); `checkTenancy` reports it until then.
 */
export function tablePolicyStatements(table: TenantTable, options: PolicyMigrationOptions = {}): string[] {
  const name = qualifiedName(table);
  const column = table.column ?? options.column ?? "workspace_id";
  const roles = rolesList(options.roles);
  return [...applyStatements(name, column, roles, options), partitionsBlock(name, applyStatements(PARTITION, column, roles, options))];
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
  const header = "-- tenancykit: row level security for every workspace-scoped table and its partitions (generated)\n";
  const statements = tables.flatMap((table) => tablePolicyStatements(table, options));
  return header + statements.map((s) => `${s};`).join("\n--> statement-breakpoint\n") + "\n";
}

function revertStatements(name: string, column: string, options: PolicyMigrationOptions): string[] {
  return [
    ...policySpecs(column, options).map((spec) => `DROP POLICY IF EXISTS ${quoteIdent(spec.name)} ON ${name}`),
    `ALTER TABLE ${name} NO FORCE ROW LEVEL SECURITY`,
    `ALTER TABLE ${name} DISABLE ROW LEVEL SECURITY`,
  ];
}

/**
 * The statements that undo `tablePolicyStatements` (for a down migration),
 * partitions first. On the table itself: drop the policies, NO FORCE and
 * DISABLE row level security. On its partitions, only on those that carry one
 * of these policies (by name): a partition without them, e.g. one created
 * after the migration ran, or one given row level security of its own, keeps
 * whatever it has.
 */
export function tableRevertStatements(table: TenantTable, options: PolicyMigrationOptions = {}): string[] {
  const name = qualifiedName(table);
  const column = table.column ?? options.column ?? "workspace_id";
  const ours = policySpecs(column, options).map((spec) => spec.name);
  return [partitionsBlock(name, revertStatements(PARTITION, column, options), ours), ...revertStatements(name, column, options)];
}
