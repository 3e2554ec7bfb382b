/**
 * How Dittofeed's backend-lib would record an audit trail with tenancykit.
 *
 * Wire-up (packages/backend-lib/src/audit.ts): one AuditLogger per process on
 * Dittofeed's own drizzle database, signing key from the environment, a pino
 * mirror that never prints PII or key material. Then three call sites:
 * `upsertJourney`, secret changes, and admin API key use. Each audit call
 * sits after the domain write succeeded (or failed, as `outcome: failure`),
 * takes the same `{ workspaceId, ... }` object Dittofeed passes around, and
 * returns a neverthrow Result like the rest of backend-lib.
 */
import { err, ok, type Result } from "neverthrow";
import type { AuditError, AuditLogger } from "../../src/audit/index.js";
import { auditLoggerFromEnv } from "../../src/audit/index.js";
import { migrateAuditTables, postgresAuditStore } from "../../src/audit/postgres.js";
import type { PostgresSource } from "../../src/core/postgres/sql-client.js";

/** Stand-ins for Dittofeed's types, so this example type-checks on its own. */
export interface DFRequestContext {
  workspace: { id: string };
  member: { id: string; email: string };
}
export interface RequestMeta {
  requestId: string;
  ip: string;
  userAgent: string;
}
export interface UpsertJourneyResource {
  workspaceId: string;
  id?: string;
  name: string;
  status?: "NotStarted" | "Running" | "Paused" | "Broadcast";
}
export interface SavedJourneyResource {
  id: string;
  workspaceId: string;
  name: string;
  status: string;
  updatedAt: number;
}
export interface JourneyUpsertValidationError {
  type: "JourneyUpsertValidationError";
  message: string;
}
type Logger = { info(obj: object, msg?: string): void };

let auditSingleton: AuditLogger | undefined;

/**
 * Lazy singleton, like Dittofeed's `db()` and `logger()`. `db` is Dittofeed's
 * drizzle database (`NodePgDatabase<Schema>`); `logger` its pino logger.
 */
export async function audit(db: PostgresSource, logger: Logger): Promise<AuditLogger> {
  if (auditSingleton) return auditSingleton;
  // In Dittofeed, AUDIT_MIGRATION_SQL goes into a drizzle migration instead (packages/backend-lib/drizzle/).
  const migrated = await migrateAuditTables(db);
  if (migrated.isErr()) throw new Error(migrated.error.message);
  const store = postgresAuditStore(db);
  if (store.isErr()) throw new Error(store.error.message);
  const created = auditLoggerFromEnv(process.env, {
    store: store.value,
    mirror: { logger, redact: ["metadata.secretValue", "metadata.presentedKey"] },
    // Anchor checkpoints outside the database: a log pipeline the DB admin cannot rewrite.
    onCheckpoint: (checkpoint) => logger.info({ checkpoint }, "audit checkpoint"),
  });
  if (created.isErr()) throw new Error(created.error.message); // a malformed TENANCY_AUDIT_SIGNING_KEY
  auditSingleton = created.value;
  return auditSingleton;
}

/**
 * journeys.ts: the audited `upsertJourney`. The domain result is returned
 * unchanged; the audit write is awaited so the change is on record before the
 * controller answers, and its failure is surfaced (an audit log that silently
 * skips events is not one).
 */
export async function upsertJourneyAudited(
  deps: { audit: AuditLogger; upsertJourney(p: UpsertJourneyResource): Promise<Result<SavedJourneyResource, JourneyUpsertValidationError>> },
  params: UpsertJourneyResource,
  ctx: DFRequestContext,
  meta: RequestMeta,
): Promise<Result<SavedJourneyResource, JourneyUpsertValidationError | AuditError>> {
  const result = await deps.upsertJourney(params);
  const recorded = await deps.audit.append({
    workspaceId: params.workspaceId,
    actor: { type: "member", id: ctx.member.id, display: ctx.member.email },
    action: params.id ? "journey.updated" : "journey.created",
    targets: [{ type: "journey", id: result.isOk() ? result.value.id : params.id ?? "new" }],
    outcome: result.isOk() ? { status: "success" } : { status: "failure", reason: result.error.message },
    context: meta,
    metadata: { name: params.name, status: params.status ?? "NotStarted" },
    // A retried HTTP request is recorded once.
    idempotencyKey: `${meta.requestId}:journey`,
  });
  if (recorded.isErr()) return err(recorded.error);
  return result;
}

/** secrets.ts: a provider secret was created, rotated or deleted. Never log the value. */
export async function auditSecretChange(
  auditLogger: AuditLogger,
  { workspaceId, secretName, change, ctx, meta }: {
    workspaceId: string;
    secretName: string;
    change: "created" | "rotated" | "deleted";
    ctx: DFRequestContext;
    meta: RequestMeta;
  },
): Promise<Result<number, AuditError>> {
  const recorded = await auditLogger.append({
    workspaceId,
    actor: { type: "member", id: ctx.member.id, display: ctx.member.email },
    action: `secret.${change}`,
    targets: [{ type: "secret", id: secretName }],
    context: meta,
  });
  return recorded.map((receipt) => receipt.seq);
}

/**
 * adminAuth.ts: each use of an admin API key, accepted or rejected. Today
 * Dittofeed's debug log prints the presented key; the audit event carries only
 * the key's id, and the mirror redacts `metadata.presentedKey` if a caller
 * ever adds it.
 */
export async function auditAdminKeyUse(
  auditLogger: AuditLogger,
  { workspaceId, keyId, route, accepted, meta }: { workspaceId: string; keyId: string; route: string; accepted: boolean; meta: RequestMeta },
): Promise<Result<void, AuditError>> {
  const recorded = await auditLogger.append({
    workspaceId,
    actor: { type: "admin_api_key", id: keyId },
    action: "admin_api_key.used",
    targets: [{ type: "route", id: route }],
    outcome: accepted ? { status: "success" } : { status: "failure", reason: "invalid or revoked key" },
    context: meta,
  });
  return recorded.isOk() ? ok(undefined) : err(recorded.error);
}

/** An operator task (cron or CLI): verify every workspace and alert on damage. */
export async function verifyWorkspaces(auditLogger: AuditLogger, workspaceIds: readonly string[], logger: Logger): Promise<number> {
  let damaged = 0;
  for (const workspaceId of workspaceIds) {
    const report = await auditLogger.verify({ workspaceId });
    if (report.isOk() && report.value.damage) {
      damaged++;
      logger.info({ workspaceId, damage: report.value.damage }, "audit chain damaged");
    }
  }
  return damaged;
}
