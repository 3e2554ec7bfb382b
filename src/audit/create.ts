import { err, ok, type Result } from "neverthrow";
import type { InvalidSigningKeyError } from "./errors.js";
import { AuditLogger, type AuditLoggerOptions } from "./logger.js";
import { parseSigningKey } from "./signing.js";

/**
 * Creates an AuditLogger (memory store unless `store` is given).
 *
 * @example
 * const audit = createAuditLogger({ store: postgresAuditStore(db())._unsafeUnwrap(), signer });
 * await audit.append({ workspaceId, actor: { type: "member", id: memberId }, action: "journey.updated",
 *   targets: [{ type: "journey", id: journeyId }] });
 */
export function createAuditLogger(options: AuditLoggerOptions = {}): AuditLogger {
  return new AuditLogger(options);
}

/**
 * Creates an AuditLogger whose signer comes from `TENANCY_AUDIT_SIGNING_KEY`
 * in `env`. Unset means no checkpoints (a warning-worthy setup); a malformed
 * key is a typed Err, so a typo never silently disables signing.
 */
export function auditLoggerFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: Omit<AuditLoggerOptions, "signer"> = {},
): Result<AuditLogger, InvalidSigningKeyError> {
  const raw = env.TENANCY_AUDIT_SIGNING_KEY;
  if (raw === undefined || raw === "") return ok(new AuditLogger(options));
  const signer = parseSigningKey(raw);
  if (signer.isErr()) return err(signer.error);
  return ok(new AuditLogger({ ...options, signer: signer.value }));
}
