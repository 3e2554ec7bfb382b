import { err, ok, type Result } from "neverthrow";
import { invalidInput, tenancyError } from "../core/errors.js";
import { sqlResult } from "../core/postgres/result.js";
import { toSqlClient, type PostgresSource } from "../core/postgres/sql-client.js";
import type { PostgresTenancyError, UnsafeAppRoleError } from "./errors.js";
import { WORKSPACE_COLUMN_CANDIDATES } from "./identifiers.js";

export interface AppRoleOptions {
  /** Workspace column names that mark a tenant table. @default ["workspace_id", "workspaceId"] */
  readonly columns?: readonly string[];
  /** Schemas to look in. @default ["public"] */
  readonly schemas?: readonly string[];
  /** Accept a superuser (e.g. a local tool). Never in production. */
  readonly allowSuperuser?: boolean;
  /** Accept BYPASSRLS (a deliberate cross-workspace job role). */
  readonly allowBypassRls?: boolean;
  /** Accept a role that owns (or is a member of the owner of) tenant tables. */
  readonly allowOwner?: boolean;
}

export interface AppRoleReport {
  readonly role: string;
  readonly superuser: boolean;
  readonly bypassRls: boolean;
  /** Tenant tables the role owns, directly or through membership. */
  readonly ownedTenantTables: readonly string[];
}

const ROLE_SQL = `select current_user as role, r.rolsuper as superuser, r.rolbypassrls as bypass
  from pg_roles r where r.rolname = current_user`;

// Membership counts: a member of the owning role can ALTER the table, drop its
// policies or disable RLS, so it is as unsafe as the owner itself.
const OWNED_SQL = `select distinct c.relname as name
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  where c.relkind in ('r', 'p') and n.nspname = any($1::text[]) and a.attname = any($2::text[])
    and pg_has_role(current_user, c.relowner, 'MEMBER')
  order by 1`;

const isNameList = (value: unknown): boolean => Array.isArray(value) && value.every((v) => typeof v === "string" && !v.includes("\u0000"));

/** What is wrong with the options' shape, if anything (a non-boolean allow flag is refused, not read as false). */
function roleOptionsProblem(options: unknown): string | undefined {
  if (typeof options !== "object" || options === null) return "options must be an object";
  const o = options as Record<string, unknown>;
  for (const name of ["columns", "schemas"]) if (o[name] !== undefined && !isNameList(o[name])) return `${name} must be an array of names`;
  for (const name of ["allowSuperuser", "allowBypassRls", "allowOwner"]) {
    if (o[name] !== undefined && typeof o[name] !== "boolean") return `${name} must be a boolean`;
  }
  return undefined;
}

/**
 * Checks, at start-up, that the connected role is one row level security
 * applies to. A superuser or a BYPASSRLS role skips every policy silently, and
 * an owner (without FORCE) does too and can drop the policies: in all three
 * cases isolation tests would pass while nothing is isolated. Returns the
 * report on success and an `UnsafeAppRole` Err listing every reason.
 *
 * @example
 * const role = await assertAppRole(pool);
 * if (role.isErr()) { logger().error({ err: role.error }, "unsafe database role"); process.exit(1); }
 */
export async function assertAppRole(
  db: PostgresSource,
  options: AppRoleOptions = {},
): Promise<Result<AppRoleReport, PostgresTenancyError>> {
  const sql = toSqlClient(db);
  if (sql === undefined) return err(invalidInput("assertAppRole: db is not a pg Pool, drizzle database or PGlite"));
  const problem = roleOptionsProblem(options);
  if (problem !== undefined) return err(invalidInput(`assertAppRole: ${problem}`));
  const columns = options.columns ?? WORKSPACE_COLUMN_CANDIDATES;
  const schemas = options.schemas ?? ["public"];
  const found = await sqlResult("assertAppRole", async () => {
    const role = await sql.query<{ role: string; superuser: boolean; bypass: boolean }>(ROLE_SQL);
    const owned = await sql.query<{ name: string }>(OWNED_SQL, [schemas, columns]);
    return { role: role.rows[0], owned: owned.rows.map((r) => r.name) };
  });
  if (found.isErr()) return err(found.error);
  const { role, owned } = found.value;
  if (role === undefined) return err(invalidInput("assertAppRole: the current role is not in pg_roles"));
  const report: AppRoleReport = { role: role.role, superuser: role.superuser, bypassRls: role.bypass, ownedTenantTables: owned };
  const reasons: string[] = [];
  if (report.superuser && options.allowSuperuser !== true) reasons.push("superuser");
  if (report.bypassRls && options.allowBypassRls !== true) reasons.push("bypassrls");
  if (owned.length > 0 && options.allowOwner !== true) reasons.push(...owned.map((t) => `owns "${t}"`));
  if (reasons.length === 0) return ok(report);
  const error: UnsafeAppRoleError = {
    ...tenancyError(
      "UnsafeAppRole",
      `role "${report.role}" skips row level security (${reasons.join(", ")}); connect as a non-owner NOSUPERUSER NOBYPASSRLS role`,
    ),
    type: "UnsafeAppRole",
    role: report.role,
    reasons,
  };
  return err(error);
}
