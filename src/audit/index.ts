/**
 * tenancykit/audit: a durable, tamper-evident, per-workspace audit log.
 * Event schema and validation, RFC 8785 canonical JSON, a SHA-256 hash chain
 * per workspace, group commit, Ed25519-signed checkpoints, verify, PII
 * erasure through salted commitments, query and export, a memory store and a
 * pino mirror with redaction. The Postgres store is `tenancykit/audit/postgres`.
 */
export { AuditLogger, type AuditLoggerOptions, type QueryOptions, type QueryPage } from "./logger.js";
export { createAuditLogger, auditLoggerFromEnv } from "./create.js";
export type {
  AppendReceipt,
  AuditActor,
  AuditContext,
  AuditEventInput,
  AuditOutcome,
  AuditTarget,
  PersonalValue,
  PreparedEvent,
  StoredEntry,
  WorkspaceAuditEvent,
  AuditIndexColumns,
} from "./event.js";
export type {
  AuditError,
  AuditEventTooLargeError,
  AuditLoggerClosedError,
  ExportWriteFailedError,
  InvalidAuditEventError,
  InvalidSigningKeyError,
  NotSerializableError,
  SigningKeyMissingError,
} from "./errors.js";
export { canonicalJson, type JsonValue } from "./canonical.js";
export { entryHash, chainEvents, GENESIS_HASH, EMPTY_HEAD, type ChainHead, type ChainOutcome } from "./chain.js";
export { parseSigningKey, signerFromSeed, verifySignature, type AuditSigner, type AuditPublicKeys } from "./signing.js";
export {
  checkpointMessage,
  checkpointValid,
  pruneMessage,
  pruneValid,
  type Checkpoint,
  type PruneRecord,
} from "./records.js";
export { verifyChain, type Damage, type DamageKind, type VerifyReport } from "./verify.js";
export { MemoryAuditStore } from "./memory-store.js";
export { partitionName, monthBounds, type AuditStore, type BatchOutcome, type ReadCursor, type StoreQuery } from "./store.js";
export { toAuditEntry, type AuditEntry } from "./entry.js";
export type { ExportManifest } from "./export.js";
export type { ExportRecord } from "./export-format.js";
export { verifyExport, type ExportCheck, type ExportExpectation } from "./verify-export.js";
export { exportStatementMessage, exportStatementValid, type ExportStatement } from "./export-statement.js";
export { redactedCopy, mirroredForm, type AuditMirrorLogger, type AuditMirrorOptions } from "./mirror.js";
export { DEFAULT_LIMITS, prepareEvent, type AuditLimits } from "./validate.js";
export { DEFAULT_BATCH, type BatchOptions } from "./group-commit.js";
export { DEFAULT_CHECKPOINTS, type CheckpointOptions } from "./checkpointer.js";
