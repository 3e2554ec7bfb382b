import type { AuditEventInput } from "./event.js";

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
 * Builds the logged object: a deep copy with every configured path redacted,
 * so the caller's event is never mutated and no PII reaches the log.
 */
export function redactedCopy(event: AuditEventInput, paths: readonly string[]): Record<string, unknown> {
  const copy = structuredClone(event) as unknown as Record<string, unknown>;
  for (const path of [...ALWAYS, ...paths]) {
    const parts = path.split(".");
    let node: unknown = copy;
    for (let i = 0; i < parts.length - 1 && typeof node === "object" && node !== null; i++) {
      node = (node as Record<string, unknown>)[parts[i] as string];
    }
    const last = parts[parts.length - 1] as string;
    if (typeof node === "object" && node !== null && last in node) (node as Record<string, unknown>)[last] = REDACTED;
  }
  return copy;
}

export function mirrorEvent(
  options: AuditMirrorOptions,
  event: AuditEventInput,
  receipt: { seq: number; hash: string },
): void {
  try {
    const audit = redactedCopy(event, options.redact ?? []);
    if (event.occurredAt instanceof Date) audit.occurredAt = event.occurredAt.toISOString();
    options.logger.info({ workspaceId: event.workspaceId, audit: { ...audit, seq: receipt.seq, hash: receipt.hash } }, options.message ?? "audit event");
  } catch {
    // The mirror is best effort: a throwing logger must not fail an append that already committed.
  }
}
