import { err, ok, type Result } from "neverthrow";
import { invalidInput } from "../core/errors.js";
import { sqlResult } from "../core/postgres/result.js";
import { toSqlClient, type PostgresSource } from "../core/postgres/sql-client.js";
import { readCatalog } from "./catalog.js";
import { evaluateRules, type Finding } from "./check-rules.js";
import type { PostgresTenancyError } from "./errors.js";
import { DITTOFEED_GLOBAL_TABLES, type GlobalTable } from "./exceptions.js";
import { detectWorkspaceColumn, type TenantTable } from "./identifiers.js";

export interface CheckOptions {
  /** Schemas to check. @default ["public"] */
  readonly schemas?: readonly string[];
  /** The workspace column; @default detected per table (`workspace_id`, then `workspaceId`). */
  readonly column?: string;
  /** The reviewed exception list. @default DITTOFEED_GLOBAL_TABLES */
  readonly globalTables?: readonly GlobalTable[];
}

export interface TenancyReport {
  /** True when there are no findings. */
  readonly ok: boolean;
  readonly findings: readonly Finding[];
  /** Tables with a workspace column (partitions included), with the column found. */
  readonly tenantTables: readonly Required<TenantTable>[];
  /** Tables in the exception list that exist. */
  readonly globalTables: readonly string[];
}

const GLOBAL_REASONS: readonly string[] = ["global", "membership", "scoped-through-parent", "deprecated"];
/** A name Postgres can hold and compare: a string without U+0000. */
const isName = (value: unknown): value is string => typeof value === "string" && !value.includes("\u0000");

/** What is wrong with the options' shape, if anything. */
function checkOptionsProblem(options: unknown): string | undefined {
  if (typeof options !== "object" || options === null) return "options must be an object";
  const { schemas, column, globalTables } = options as Record<string, unknown>;
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.every(isName))) return "schemas must be an array of schema names";
  if (column !== undefined && !isName(column)) return "column must be a column name";
  if (
    globalTables !== undefined &&
    !(Array.isArray(globalTables) && globalTables.every((g: unknown) => typeof g === "object" && g !== null &&
      isName((g as GlobalTable).name) && GLOBAL_REASONS.includes((g as GlobalTable).reason)))
  ) {
    return "globalTables must be an array of { name, reason } entries";
  }
  return undefined;
}

/**
 * Checks the live catalog for tenancy gaps: every tenant table, and every
 * partition of one (a table of its own to RLS), has RLS enabled, forced and
 * a permissive workspace policy per command; no other permissive policy
 * (they are ORed with ours) is on it; policies wrap their
 * function calls in `(select …)`; a workspace-leading index exists; indexes,
 * unique constraints and primary keys include the workspace column; foreign
 * keys are indexed; and every table is either a tenant table or in the
 * reviewed exception list. Returns the findings as data.
 *
 * @example
 * const report = await checkTenancy(pool);
 * if (report.isOk() && !report.value.ok) console.table(report.value.findings);
 */
export async function checkTenancy(db: PostgresSource, options: CheckOptions = {}): Promise<Result<TenancyReport, PostgresTenancyError>> {
  const sql = toSqlClient(db);
  if (sql === undefined) return err(invalidInput("checkTenancy: db is not a pg Pool, drizzle database or PGlite"));
  const problem = checkOptionsProblem(options);
  if (problem !== undefined) return err(invalidInput(`checkTenancy: ${problem}`));
  const catalog = await sqlResult("checkTenancy", () => readCatalog(sql, options.schemas ?? ["public"]));
  if (catalog.isErr()) return err(catalog.error);
  const { findings, tenant, global } = evaluateRules(catalog.value, {
    globalTables: options.globalTables ?? DITTOFEED_GLOBAL_TABLES,
    ...(options.column === undefined ? {} : { column: options.column }),
  });
  return ok({
    ok: findings.length === 0,
    findings,
    tenantTables: tenant.map((t) => ({
      schema: t.schema,
      name: t.name,
      column: detectWorkspaceColumn(t.columns, options.column) ?? "workspace_id",
    })),
    globalTables: global.map((t) => t.name),
  });
}

/**
 * The tenant tables of a live schema (every table with the workspace column),
 * ready for `policyMigrationSql`.
 */
export async function discoverTenantTables(db: PostgresSource, options: CheckOptions = {}): Promise<Result<Required<TenantTable>[], PostgresTenancyError>> {
  const report = await checkTenancy(db, options);
  return report.map((r) => [...r.tenantTables]);
}
