import { ok, err, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import { checkpointValid, signCheckpoint, type Checkpoint } from "./records.js";
import type { AuditPublicKeys, AuditSigner } from "./signing.js";
import type { AuditStore } from "./store.js";
import { verifyChain } from "./verify.js";

/**
 * The checkpoint at an export's last seq, which pins every exported entry
 * (each record recomputes its hash and links to the next, up to the signed
 * one). A stored checkpoint at that seq is used as it is. Otherwise the
 * signer signs one now, but only for a chain `verify` accepts: signing
 * whatever the rows hold would hand anyone who rewrote them a fresh signature
 * over the rewrite. The verified stretch runs from the last valid checkpoint
 * at or before the range's end (it pins everything before it) through the
 * first one at or after it (a rewrite re-hashed forward contradicts that one),
 * or to the head. The new checkpoint is not stored: exporting writes nothing.
 */
export async function pinRange(
  store: AuditStore,
  signer: AuditSigner | undefined,
  keys: AuditPublicKeys,
  nowMs: number,
  workspaceId: string,
  range: { toSeq: number; headHash: string; checkpoints: readonly Checkpoint[] },
): Promise<Result<{ checkpoint: Checkpoint } | { unsigned: string }, SqlError>> {
  const { toSeq, headHash } = range;
  const valid = range.checkpoints.filter((c) => checkpointValid(c, keys));
  const atEnd = valid.find((c) => c.seq === toSeq);
  if (atEnd !== undefined) {
    return ok(atEnd.headHash === headHash ? { checkpoint: atEnd } : { unsigned: `entry ${toSeq} differs from its signed checkpoint` });
  }
  if (signer === undefined) {
    return ok({ unsigned: "no signing key is configured (TENANCY_AUDIT_SIGNING_KEY): nothing outside the database vouches for these hashes" });
  }
  const from = valid.filter((c) => c.seq <= toSeq).at(-1)?.seq ?? 1;
  const through = valid.find((c) => c.seq >= toSeq)?.seq;
  const report = await verifyChain(store, keys, { workspaceId, from, ...(through !== undefined ? { to: through } : {}) });
  if (report.isErr()) return err(report.error);
  const damage = report.value.damage;
  if (damage !== null) return ok({ unsigned: `verify found damage (${damage.kind} at seq ${damage.seq}: ${damage.message})` });
  // The export read its rows before this check: sign only if the last one is still the one verified.
  const now = await store.readEntries(workspaceId, { seq: toSeq - 1, hash: new Uint8Array(32).fill(255) }, toSeq, 2);
  if (now.isErr()) return err(now.error);
  if (now.value.length !== 1 || Buffer.from(now.value[0]?.hash ?? []).toString("hex") !== headHash) {
    return ok({ unsigned: `entry ${toSeq} changed while it was exported` });
  }
  return ok({ checkpoint: signCheckpoint(signer, { workspaceId, seq: toSeq, headHash, signedAt: new Date(nowMs).toISOString() }) });
}
