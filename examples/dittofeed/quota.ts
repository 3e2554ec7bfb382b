/**
 * How Dittofeed's backend-lib would call QuotaGuard. The functions mirror
 * Dittofeed's own (`upsertSegment`, `upsertJourney`, `upsertUserProperty`,
 * `insertUserEvents`, `sendMessage`): one destructured object in, a neverthrow
 * Result out, errors discriminated on `type`. Runs in
 * test/integration/quota/dittofeed-example.test.ts against real Postgres and
 * the fixture schema.
 */
import { err, ok, type Result } from "neverthrow";
import type { Pool } from "pg";
import { parseWorkspaceId, type WorkspaceId } from "../../src/core/workspace-id.js";
import { QuotaGuard, type Decision, type Plan, type PolicySource, type QuotaError, type QuotaStore, type Reservation, type ResolvedPolicy } from "../../src/quota/index.js";

/** Dittofeed-style plans: counts for resources, a monthly message quota, an ingestion rate. */
export const DITTOFEED_PLANS: Readonly<Record<string, Plan>> = {
  free: {
    segments: { kind: "count", limit: 5 },
    journeys: { kind: "count", limit: 3 },
    userProperties: { kind: "count", limit: 10 },
    messagesPerMonth: { kind: "period", period: "month", limit: 100, onStoreFailure: "closed" },
    ingestRate: { kind: "rate", limit: 60_000, periodMs: 3_600_000, burst: 200, onStoreFailure: "local" },
  },
};

/**
 * Parents come from Dittofeed's own `Workspace.parentWorkspaceId` column, so a
 * child agency client is also held to its agency's aggregate limits.
 */
export class WorkspaceTablePolicies implements PolicySource {
  constructor(
    private readonly pool: Pool,
    private readonly plans: Readonly<Record<string, Plan>> = DITTOFEED_PLANS,
  ) {}

  async resolve(workspaceId: WorkspaceId): Promise<Result<ResolvedPolicy, Extract<QuotaError, { type: "PolicyUnavailable" }>>> {
    try {
      const { rows } = await this.pool.query<{ parentWorkspaceId: string | null }>('SELECT "parentWorkspaceId" FROM "Workspace" WHERE id = $1', [workspaceId]);
      const parent = rows[0]?.parentWorkspaceId ? parseWorkspaceId(rows[0].parentWorkspaceId) : undefined;
      const limits = this.plans.free ?? {};
      return ok(parent?.isOk() ? { limits, parentWorkspaceId: parent.value } : { limits });
    } catch (thrown) {
      return err({ type: "PolicyUnavailable", message: String(thrown), retryable: true, workspaceId });
    }
  }
}

export function createDittofeedGuard({ pool, store }: { pool: Pool; store?: QuotaStore }): QuotaGuard {
  return new QuotaGuard({ policies: new WorkspaceTablePolicies(pool), ...(store === undefined ? {} : { store }) });
}

/** The errors these functions add to Dittofeed's unions. */
export type QuotaDenied = { type: "QuotaExceeded"; message: string; limit: string; scope: "own" | "parent"; retryAfterMs: number };
export type UpsertResourceError = QuotaDenied | { type: "QuotaUnavailable"; message: string } | { type: "InvalidWorkspace"; message: string };

function denied(d: Decision): QuotaDenied {
  const limit = d.reason?.limit ?? "unknown";
  const scope = d.reason?.scope ?? "own";
  return { type: "QuotaExceeded", message: `${scope === "parent" ? "parent workspace" : "workspace"} limit ${limit} reached`, limit, scope, retryAfterMs: d.retryAfterMs };
}

function quotaFailure(e: QuotaError): UpsertResourceError {
  return e.type === "InvalidWorkspaceId" ? { type: "InvalidWorkspace", message: e.message } : { type: "QuotaUnavailable", message: e.message };
}

type ResourceTable = "Segment" | "Journey" | "UserProperty";
const LIMIT_OF: Record<ResourceTable, string> = { Segment: "segments", Journey: "journeys", UserProperty: "userProperties" };

/**
 * Reserve before creating, commit if a row was created, release if it was an
 * update or failed: a crash in between only holds capacity until the
 * reservation expires.
 */
async function upsertNamedResource(
  guard: QuotaGuard,
  pool: Pool,
  table: ResourceTable,
  { workspaceId, name, definition }: { workspaceId: string; name: string; definition: unknown },
): Promise<Result<{ id: string; name: string; created: boolean }, UpsertResourceError>> {
  const existing = await pool.query(`SELECT id FROM "${table}" WHERE "workspaceId" = $1 AND name = $2`, [workspaceId, name]);
  // An update of an existing resource needs no capacity.
  let reservation: Reservation | undefined;
  if (existing.rowCount === 0) {
    const reserved = await guard.reserve({ workspaceId, limit: LIMIT_OF[table] });
    if (reserved.isErr()) return err(quotaFailure(reserved.error));
    if (!reserved.value.allowed) return err(denied(reserved.value));
    reservation = reserved.value.reservation;
  }
  try {
    const { rows } = await pool.query<{ id: string; name: string; created: boolean }>(
      `INSERT INTO "${table}" ("workspaceId", name, definition) VALUES ($1, $2, $3)
       ON CONFLICT ("workspaceId", name) DO UPDATE SET definition = EXCLUDED.definition, "updatedAt" = now()
       RETURNING id, name, (xmax = 0) AS created`,
      [workspaceId, name, JSON.stringify(definition)],
    );
    const row = rows[0]!;
    if (reservation !== undefined) {
      // A concurrent writer may have created the same name first: then this was an update.
      if (row.created) await guard.commit({ reservation });
      else await guard.release({ reservation });
    }
    return ok(row);
  } catch (thrown) {
    if (reservation !== undefined) await guard.release({ reservation });
    throw thrown;
  }
}

export const upsertSegment = (guard: QuotaGuard, pool: Pool, params: { workspaceId: string; name: string; definition: unknown }) =>
  upsertNamedResource(guard, pool, "Segment", params);
export const upsertJourney = (guard: QuotaGuard, pool: Pool, params: { workspaceId: string; name: string; definition: unknown }) =>
  upsertNamedResource(guard, pool, "Journey", params);
export const upsertUserProperty = (guard: QuotaGuard, pool: Pool, params: { workspaceId: string; name: string; definition: unknown }) =>
  upsertNamedResource(guard, pool, "UserProperty", params);

/** The ingestion funnel: one decision per batch, cost = number of events. */
export async function insertUserEvents(
  guard: QuotaGuard,
  { workspaceId, userEvents }: { workspaceId: string; userEvents: readonly unknown[] },
): Promise<Result<{ accepted: number }, QuotaDenied | { type: "QuotaUnavailable"; message: string }>> {
  if (userEvents.length === 0) return ok({ accepted: 0 });
  const d = await guard.consume({ workspaceId, limit: "ingestRate", cost: userEvents.length });
  if (d.isErr()) return err({ type: "QuotaUnavailable", message: d.error.message });
  if (!d.value.allowed) return err(denied(d.value));
  // ... write to Kafka / ClickHouse as Dittofeed does.
  return ok({ accepted: userEvents.length });
}

/** Dittofeed maps a quota denial onto MessageSkipped (a new MessageSkippedType), not a failure. */
export type MessageResult = { type: "MessageSent" } | { type: "MessageSkipped"; reason: "QuotaExceeded"; retryAfterMs: number };

export async function sendMessage(guard: QuotaGuard, { workspaceId }: { workspaceId: string; channel: "Email" | "Sms" | "Webhook" }): Promise<Result<MessageResult, { type: "QuotaUnavailable"; message: string }>> {
  const d = await guard.consume({ workspaceId, limit: "messagesPerMonth" });
  if (d.isErr()) return err({ type: "QuotaUnavailable", message: d.error.message });
  if (!d.value.allowed) return ok({ type: "MessageSkipped", reason: "QuotaExceeded", retryAfterMs: d.value.retryAfterMs });
  // ... call the email/SMS provider.
  return ok({ type: "MessageSent" });
}

/** A periodic job: reset usage from the truth in Postgres (rows deleted outside the guard, drift). */
export async function reconcileResourceCounts(guard: QuotaGuard, pool: Pool, { workspaceId }: { workspaceId: string }): Promise<Result<Record<string, number>, QuotaError>> {
  const counts: Record<string, number> = {};
  for (const table of ["Segment", "Journey", "UserProperty"] as const) {
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${table}" WHERE "workspaceId" = $1`, [workspaceId]);
    const actual = Number(rows[0]?.n ?? 0);
    const r = await guard.reconcile({ workspaceId, limit: LIMIT_OF[table], actual });
    if (r.isErr()) return err(r.error);
    counts[LIMIT_OF[table]] = actual;
  }
  return ok(counts);
}
