import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../../core/errors.js";
import { sqlResult } from "../../core/postgres/result.js";
import { toSqlClient, type PostgresSource, type SqlClient } from "../../core/postgres/sql-client.js";
import type { WorkspaceId } from "../../core/workspace-id.js";
import { planProblems } from "../limits.js";
import { plansConfigProblems, resolveAssignment, type PolicySource, type ResolvedPolicy } from "../policy.js";
import type { Plan, PolicyUnavailableError } from "../types.js";

export interface PostgresPolicySourceOptions {
  readonly db: PostgresSource;
  /** The plans (tiers), defined in code. */
  readonly plans: Readonly<Record<string, Plan>>;
  readonly defaultPlan: string;
}

/**
 * Plan assignments, overrides and parents from the `tenancy_quota_policy`
 * table, so support staff can raise a workspace's limit with an UPDATE and
 * every process applies it within the guard's policy cache TTL. A row with
 * an unknown plan or invalid overrides is a `PolicyUnavailable` error for
 * that workspace, not a silent fallback.
 */
export class PostgresPolicySource implements PolicySource {
  readonly #sql: SqlClient;
  readonly #plans: Readonly<Record<string, Plan>>;
  readonly #defaultPlan: string;

  /** @throws TypeError listing every problem in the plans or the db. */
  constructor(options: PostgresPolicySourceOptions) {
    const problems = plansConfigProblems({ plans: options.plans, defaultPlan: options.defaultPlan });
    const sql = toSqlClient(options.db);
    if (sql === undefined) problems.push("db must be a pg Pool, a drizzle database or PGlite");
    if (problems.length > 0 || sql === undefined) throw new TypeError(`PostgresPolicySource: ${problems.join("; ")}`);
    this.#sql = sql;
    this.#plans = options.plans;
    this.#defaultPlan = options.defaultPlan;
  }

  async resolve(workspaceId: WorkspaceId): Promise<Result<ResolvedPolicy, PolicyUnavailableError>> {
    const rows = await sqlResult("read quota policy", () =>
      this.#sql.query<{ plan: string | null; overrides: unknown; parent_workspace_id: string | null }>(
        "SELECT plan, overrides, parent_workspace_id FROM tenancy_quota_policy WHERE workspace_id = $1",
        [workspaceId],
      ),
    );
    if (rows.isErr()) return err(tenancyError("PolicyUnavailable", rows.error.message, { retryable: rows.error.retryable, workspaceId, cause: rows.error }));
    const row = rows.value.rows[0];
    if (row === undefined) return ok({ limits: this.#plans[this.#defaultPlan] ?? {} });
    const plan = row.plan ?? this.#defaultPlan;
    const problems: string[] = [];
    if (!Object.hasOwn(this.#plans, plan)) problems.push(`unknown plan ${JSON.stringify(plan)}`);
    if (row.overrides !== null) problems.push(...planProblems("overrides", row.overrides));
    if (problems.length > 0) return err(tenancyError("PolicyUnavailable", `tenancy_quota_policy row is invalid: ${problems.join("; ")}`, { workspaceId }));
    return ok(
      resolveAssignment(this.#plans, this.#defaultPlan, {
        plan,
        ...(row.overrides === null ? {} : { overrides: row.overrides as Plan }),
        ...(row.parent_workspace_id === null ? {} : { parentWorkspaceId: row.parent_workspace_id }),
      }),
    );
  }

  /** Sets a workspace's plan, overrides and parent (an upsert). */
  async assign(workspaceId: WorkspaceId, assignment: { plan?: string; overrides?: Plan; parentWorkspaceId?: WorkspaceId }): Promise<Result<void, PolicyUnavailableError>> {
    const problems = plansConfigProblems({ plans: this.#plans, defaultPlan: this.#defaultPlan, workspaces: { [workspaceId]: assignment } });
    if (problems.length > 0) return err(tenancyError("PolicyUnavailable", problems.join("; "), { workspaceId }));
    const done = await sqlResult("write quota policy", () =>
      this.#sql.query(
        `INSERT INTO tenancy_quota_policy (workspace_id, plan, overrides, parent_workspace_id) VALUES ($1, $2, $3::jsonb, $4)
         ON CONFLICT (workspace_id) DO UPDATE SET plan = $2, overrides = $3::jsonb, parent_workspace_id = $4,
           version = tenancy_quota_policy.version + 1`,
        [workspaceId, assignment.plan ?? null, assignment.overrides === undefined ? null : JSON.stringify(assignment.overrides), assignment.parentWorkspaceId ?? null],
      ),
    );
    return done.isErr() ? err(tenancyError("PolicyUnavailable", done.error.message, { workspaceId, cause: done.error })) : ok(undefined);
  }
}
