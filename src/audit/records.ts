import { canonicalJson } from "./canonical.js";
import type { AuditPublicKeys, AuditSigner } from "./signing.js";
import { verifySignature } from "./signing.js";

/**
 * An Ed25519-signed statement that a workspace's chain had `seq` entries
 * ending in `headHash` at `signedAt`. Export these to somewhere the database
 * administrator cannot write (an object-lock bucket, a webhook, a log
 * pipeline): a rewritten chain no longer matches them.
 */
export interface Checkpoint {
  readonly workspaceId: string;
  readonly seq: number;
  /** Hex SHA-256 of entry `seq`. */
  readonly headHash: string;
  readonly signedAt: string;
  readonly keyId: string;
  /** Base64 Ed25519 signature over `checkpointMessage`. */
  readonly signature: string;
}

/**
 * Left behind when retention drops a partition: entries up to `throughSeq`
 * are gone on purpose, and entry `throughSeq` had hash `hash`. Verification
 * of what remains starts from here.
 */
export interface PruneRecord {
  readonly workspaceId: string;
  readonly throughSeq: number;
  readonly hash: string;
  /** The partition that was dropped, e.g. `audit_entry_y2026m01`. */
  readonly partition: string;
  readonly prunedAt: string;
  readonly keyId: string;
  readonly signature: string;
}

type Unsigned<T> = Omit<T, "signature">;

/** The exact bytes a checkpoint signature covers (canonical JSON, domain-tagged). */
export function checkpointMessage(c: Unsigned<Checkpoint>): string {
  const { workspaceId, seq, headHash, signedAt, keyId } = c;
  return canonicalJson({ type: "tenancykit.audit.checkpoint.v1", workspaceId, seq, headHash, signedAt, keyId })._unsafeUnwrap();
}

/** The exact bytes a prune record signature covers. */
export function pruneMessage(p: Unsigned<PruneRecord>): string {
  const { workspaceId, throughSeq, hash, partition, prunedAt, keyId } = p;
  return canonicalJson({ type: "tenancykit.audit.prune.v1", workspaceId, throughSeq, hash, partition, prunedAt, keyId })._unsafeUnwrap();
}

export function signCheckpoint(signer: AuditSigner, c: Omit<Unsigned<Checkpoint>, "keyId">): Checkpoint {
  const unsigned = { ...c, keyId: signer.keyId };
  return { ...unsigned, signature: signer.sign(checkpointMessage(unsigned)) };
}

export function signPrune(signer: AuditSigner, p: Omit<Unsigned<PruneRecord>, "keyId">): PruneRecord {
  const unsigned = { ...p, keyId: signer.keyId };
  return { ...unsigned, signature: signer.sign(pruneMessage(unsigned)) };
}

export function checkpointValid(c: Checkpoint, keys: AuditPublicKeys): boolean {
  const key = keys[c.keyId];
  return key !== undefined && verifySignature(checkpointMessage(c), c.signature, key);
}

export function pruneValid(p: PruneRecord, keys: AuditPublicKeys): boolean {
  const key = keys[p.keyId];
  return key !== undefined && verifySignature(pruneMessage(p), p.signature, key);
}
