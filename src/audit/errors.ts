import type {
  InvalidInputError,
  InvalidWorkspaceIdError,
  StoreFailedError,
  StoreUnavailableError,
  TenancyErrorBase,
} from "../core/errors.js";

/** An event that fails validation; `problems` lists every reason at once. */
export interface InvalidAuditEventError extends TenancyErrorBase<"InvalidAuditEvent"> {
  readonly problems: readonly string[];
}
/** Metadata (or the whole event) is larger than the configured maximum. */
export type AuditEventTooLargeError = TenancyErrorBase<"AuditEventTooLarge">;
/** A value that canonical JSON cannot represent (NaN, a Date, a cycle, a lone surrogate, …). */
export type NotSerializableError = TenancyErrorBase<"NotSerializable">;
/** `TENANCY_AUDIT_SIGNING_KEY` (or a key given in code) is not a base64 32-byte Ed25519 seed. */
export type InvalidSigningKeyError = TenancyErrorBase<"InvalidSigningKey">;
/** The logger was closed; the event was not written. */
export type AuditLoggerClosedError = TenancyErrorBase<"AuditLoggerClosed">;
/** An operation needs the signing key (checkpoints, prune records) and none is configured. */
export type SigningKeyMissingError = TenancyErrorBase<"SigningKeyMissing">;
/** `exportLog`'s `write` threw or rejected: what it took is not a whole export, and there is no manifest. */
export type ExportWriteFailedError = TenancyErrorBase<"ExportWriteFailed">;

/** Every error an AuditLogger operation can return. */
export type AuditError =
  | InvalidWorkspaceIdError
  | InvalidInputError
  | StoreUnavailableError
  | StoreFailedError
  | InvalidAuditEventError
  | AuditEventTooLargeError
  | NotSerializableError
  | InvalidSigningKeyError
  | AuditLoggerClosedError
  | SigningKeyMissingError
  | ExportWriteFailedError;
