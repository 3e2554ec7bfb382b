import { err, ok, type Result } from "neverthrow";
import { invalidInput, type InvalidInputError } from "../core/errors.js";
import { sqlResult, type SqlError } from "../core/postgres/result.js";
import type { SqlExecutor } from "../core/postgres/sql-client.js";
import { parseWorkspaceId } from "../core/workspace-id.js";
import { USAGE_TABLE } from "./flush-sql.js";
import type { WorkspaceUsage } from "./usage.js";

/**
 * Limits per plan and the plan of each workspace: the minimal shape the
 * usage report needs, `{ plans: { <plan>: { <metric>: limit } }, workspaces:
 * { <id>: <plan> } }`. (QuotaGuard's richer policy can be reduced to this.)
 */
export interface UsagePlans {
  readonly plans: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly workspaces: Readonly<Record<string, string>>;
}

/** One workspace's usage of one metric. */
export interface UsageRow {
  readonly workspaceId: string;
  readonly metric: string;
  readonly value: number;
}

export interface UsageReportLine extends UsageRow {
  readonly plan?: string;
  readonly limit?: number;
  /** value ÷ limit, when a limit applies. */
  readonly fraction?: number;
}

/** Validates a plans file, listing every problem. */
export function parseUsagePlans(input: unknown): Result<UsagePlans, InvalidInputError> {
  const problems: string[] = [];
  const root = input as { plans?: unknown; workspaces?: unknown } | null;
  if (typeof root !== "object" || root === null) return err(invalidInput("plans must be a JSON object { plans, workspaces }"));
  // Null-prototype maps: plan and metric names come from a file, and "__proto__" must be a key like any other.
  const plans: Record<string, Record<string, number>> = Object.create(null) as Record<string, Record<string, number>>;
  if (typeof root.plans !== "object" || root.plans === null) problems.push("`plans` must be an object of plan → { metric: limit }");
  else {
    for (const [plan, limits] of Object.entries(root.plans as Record<string, unknown>)) {
      if (typeof limits !== "object" || limits === null) {
        problems.push(`plan ${JSON.stringify(plan)} must map metric names to limits`);
        continue;
      }
      plans[plan] = Object.create(null) as Record<string, number>;
      for (const [metric, limit] of Object.entries(limits as Record<string, unknown>)) {
        if (typeof limit !== "number" || !Number.isFinite(limit) || limit < 0) {
          problems.push(`plan ${JSON.stringify(plan)} metric ${JSON.stringify(metric)}: limit must be a number ≥ 0`);
        } else (plans[plan] as Record<string, number>)[metric] = limit;
      }
    }
  }
  const workspaces: Record<string, string> = {};
  for (const [id, plan] of Object.entries((root.workspaces ?? {}) as Record<string, unknown>)) {
    const parsed = parseWorkspaceId(id);
    if (parsed.isErr()) problems.push(`workspaces: ${parsed.error.message}`);
    else if (typeof plan !== "string" || !Object.hasOwn(plans, plan)) problems.push(`workspace ${id}: unknown plan ${JSON.stringify(plan)}`);
    else workspaces[parsed.value] = plan;
  }
  if (problems.length > 0) return err(invalidInput(`invalid plans: ${problems.join("; ")}`));
  return ok({ plans, workspaces });
}

/** Usage rows from an in-process snapshot (counters and up-down counters; histogram counts). */
export function usageRowsFromSnapshot(snapshot: readonly WorkspaceUsage[]): UsageRow[] {
  const rows: UsageRow[] = [];
  for (const usage of snapshot) {
    for (const [metric, value] of Object.entries(usage.values)) if (value !== 0) rows.push({ workspaceId: usage.workspaceId, metric, value });
    for (const [metric, h] of Object.entries(usage.histograms)) {
      if (h.count !== 0) rows.push({ workspaceId: usage.workspaceId, metric: `${metric}_count`, value: h.count });
    }
  }
  return rows;
}

/** Sums flushed usage per workspace and metric over [since, until). */
export async function queryUsage(
  db: SqlExecutor,
  { since, until }: { readonly since: Date; readonly until: Date },
): Promise<Result<UsageRow[], SqlError>> {
  return sqlResult("read metrics usage", async () => {
    const { rows } = await db.query<{ workspace_id: string; metric: string; value: number }>(
      `select workspace_id::text, metric, sum(value)::float8 as value from ${USAGE_TABLE}
       where window_start >= $1 and window_start < $2 group by 1, 2 order by 1, 2`,
      [since.toISOString(), until.toISOString()],
    );
    return rows.map((r) => ({ workspaceId: r.workspace_id, metric: r.metric, value: Number(r.value) }));
  });
}

/** Joins usage with limits; sorted by how close each line is to its limit, then by value. */
export function buildUsageReport(rows: readonly UsageRow[], plans?: UsagePlans): UsageReportLine[] {
  const lines = rows.map((row): UsageReportLine => {
    const plan = plans?.workspaces[row.workspaceId];
    const limit = plan === undefined ? undefined : plans?.plans[plan]?.[row.metric];
    if (plan === undefined) return row;
    if (limit === undefined) return { ...row, plan };
    return { ...row, plan, limit, fraction: limit === 0 ? (row.value > 0 ? Infinity : 0) : row.value / limit };
  });
  return lines.sort((a, b) => (b.fraction ?? -1) - (a.fraction ?? -1) || b.value - a.value || a.workspaceId.localeCompare(b.workspaceId));
}

/** A plain-text table; lines over their limit are marked `OVER`. */
export function formatUsageTable(lines: readonly UsageReportLine[], withLimits: boolean): string {
  const header = withLimits ? ["workspace", "metric", "used", "plan", "limit", "use", ""] : ["workspace", "metric", "used"];
  const body = lines.map((l) =>
    withLimits
      ? [
          l.workspaceId,
          l.metric,
          fmt(l.value),
          l.plan ?? "-",
          l.limit === undefined ? "-" : fmt(l.limit),
          l.fraction === undefined ? "-" : `${Math.round(l.fraction * 100)}%`,
          (l.fraction ?? 0) > 1 ? "OVER" : "",
        ]
      : [l.workspaceId, l.metric, fmt(l.value)],
  );
  const rows = [header, ...body];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")}\n`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(2);
}
