import { parseBody } from "./body.js";
import type { AuditEventInput, PreparedEvent } from "./event.js";

/** The part of a pino logger the mirror uses. */
export interface AuditMirrorLogger {
  info(obj: object, msg?: string): void;
}

/** Mirror committed events to a log; best effort, never the durable record. */
export interface AuditMirrorOptions {
  readonly logger: AuditMirrorLogger;
  /**
   * Dot paths to replace with "[REDACTED]" (e.g. `metadata.email`). Personal
   * fields (`actor.display`, `context.ip`, `context.userAgent`, `personal`)
   * are always redacted.
   */
  readonly redact?: readonly string[];
  /** @default "audit event" */
  readonly message?: string;
}

const ALWAYS = ["actor.display", "context.ip", "context.userAgent", "personal"];
const REDACTED = "[REDACTED]";

/**
 * A deep copy of `value` with every personal path and every configured path
 * replaced by "[REDACTED]"; the value itself is never mutated. It redacts
 * only those paths: fields it is not told about are copied as they are, so
 * the mirror passes it the validated event (see `mirroredForm`), not the
 * caller's input.
 */
export function redactedCopy(value: AuditEventInput | Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  return redactInPlace(structuredClone(value) as unknown as Record<string, unknown>, [...ALWAYS, ...paths]);
}

/** Replaces each of `paths` present in `value` by "[REDACTED]", in place. */
function redactInPlace(value: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  for (const path of paths) {
    const parts = path.split(".");
    let node: unknown = value;
    for (let i = 0; i < parts.length - 1 && typeof node === "object" && node !== null; i++) {
      node = (node as Record<string, unknown>)[parts[i] as string];
    }
    const last = parts[parts.length - 1] as string;
    if (typeof node === "object" && node !== null && last in node) (node as Record<string, unknown>)[last] = REDACTED;
  }
  return value;
}

/**
 * What the log stored, read from the hashed body: only the fields validation
 * kept (an unknown field of the input, such as `context.email`, is dropped
 * there, so it never reaches the mirror either), with a "[REDACTED]" marker
 * where a personal value was given. Personal values themselves are never in
 * the body, only their commitments, which are left out too.
 */
export function mirroredForm(event: PreparedEvent): Record<string, unknown> {
  const body = parseBody(event.body);
  if (typeof body === "string") return {}; // unreachable: prepareEvent wrote this body
  const paths = Object.keys(event.personal ?? {});
  const actor: Record<string, unknown> = { type: body.actor.type, id: body.actor.id };
  if (paths.includes("actor.display")) actor.display = REDACTED;
  const context: Record<string, unknown> = { ...body.context };
  if (paths.includes("context.ip")) context.ip = REDACTED;
  if (paths.includes("context.userAgent")) context.userAgent = REDACTED;
  return {
    workspaceId: event.workspaceId,
    action: body.action,
    actor,
    targets: body.targets,
    outcome: body.outcome,
    context,
    metadata: body.metadata,
    ...(paths.some((p) => p.startsWith("personal.")) ? { personal: REDACTED } : {}),
    occurredAt: body.occurredAt,
    ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
  };
}

export function mirrorEvent(options: AuditMirrorOptions, event: PreparedEvent, receipt: { seq: number; hash: string }): void {
  try {
    // mirroredForm builds a fresh object with the personal paths already marked: only the configured paths are left.
    const audit = redactInPlace(mirroredForm(event), options.redact ?? []);
    options.logger.info({ workspaceId: event.workspaceId, audit: { ...audit, seq: receipt.seq, hash: receipt.hash } }, options.message ?? "audit event");
  } catch {
    // The mirror is best effort: a throwing logger must not fail an append that already committed.
  }
}
