import { ok, err, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import { signExportStatement, type ExportStatement, type UnsignedExportStatement } from "./export-statement.js";
import { checkpointValid, type Checkpoint } from "./records.js";
import type { AuditPublicKeys, AuditSigner } from "./signing.js";
import type { AuditStore } from "./store.js";
import { verifyChain } from "./verify.js";

export type PinOutcome = { statement: ExportStatement } | { unsigned: string };

/**
 * Signs an export's statement (export-statement.ts), but only for rows
 * `verify` accepts: signing whatever the rows hold would hand anyone who
 * rewrote them a fresh signature over the rewrite.
 *
 * A valid stored checkpoint at `toSeq` with the exported hash pins every
 * exported entry by itself (each record links to the next up to it). Else
 * the stretch from the last valid checkpoint at or before `toSeq` (it pins
 * everything before it) through the first one after it (a rewrite re-hashed
 * forward contradicts that one), or to the head row, is verified, and the
 * last row re-read. Past the last checkpoint the rows are vouched for only as
 * read now and checked against the head row: a rewrite that also rewrote the
 * head row passes (docs/audit.md). Writes nothing.
 */
export async function pinRange(
  store: AuditStore,
  signer: AuditSigner | undefined,
  keys: AuditPublicKeys,
  statement: UnsignedExportStatement,
  checkpoints: readonly Checkpoint[],
): Promise<Result<PinOutcome, SqlError>> {
  if (signer === undefined) {
    return ok({ unsigned: "no signing key is configured (TENANCY_AUDIT_SIGNING_KEY): nothing outside the database vouches for these hashes" });
  }
  const { workspaceId, toSeq, headHash, count } = statement;
  const unsigned = (reason: string): Result<PinOutcome, SqlError> => ok({ unsigned: reason });
  const whole = wholeRange(statement);
  if (whole !== undefined) return unsigned(whole);
  const valid = checkpoints.filter((c) => checkpointValid(c, keys));
  const from = valid.filter((c) => c.seq <= toSeq).at(-1)?.seq ?? 1;
  const through = valid.find((c) => c.seq >= toSeq)?.seq;
  // verify reports a checkpoint no configured key verifies as damage, so the whole stretch would be
  // read only to refuse: refuse now. The usual cause is a rotated-out key missing from publicKeys.
  const unknown = checkpoints.find((c) => c.seq >= from && (through === undefined || c.seq <= through) && !checkpointValid(c, keys));
  if (unknown !== undefined) {
    return unsigned(`the checkpoint at seq ${unknown.seq} (key ${String(unknown.keyId)}) does not verify under the configured keys: list a rotated-out key in publicKeys`);
  }
  // Entries requested but not exported at the front are only ever pruned ones: verify says so, or names the deletion.
  if (count > 0 && statement.fromSeq > statement.requestedFrom) {
    const front = await damageIn(store, keys, workspaceId, statement.requestedFrom, statement.fromSeq);
    if (front.isErr()) return err(front.error);
    if (front.value !== undefined) return unsigned(front.value);
  }
  const atEnd = count > 0 ? valid.find((c) => c.seq === toSeq) : undefined;
  if (atEnd === undefined) {
    const stretch = await damageIn(store, keys, workspaceId, from, through);
    if (stretch.isErr()) return err(stretch.error);
    if (stretch.value !== undefined) return unsigned(stretch.value);
  } else if (atEnd.headHash !== headHash) return unsigned(`entry ${toSeq} differs from its signed checkpoint`);
  if (count > 0) {
    // The export read its rows before this check: sign only if the last one is still the one verified.
    const now = await store.readEntries(workspaceId, { seq: toSeq - 1, hash: new Uint8Array(32).fill(255) }, toSeq, 2);
    if (now.isErr()) return err(now.error);
    if (now.value.length !== 1 || Buffer.from(now.value[0]?.hash ?? []).toString("hex") !== headHash) {
      return unsigned(`entry ${toSeq} changed while it was exported`);
    }
  }
  return ok({ statement: signExportStatement(signer, statement) });
}

/**
 * What is wrong with the shape of the exported range, if anything: its rows
 * must be gapless, and reach the head read before them (or the requested
 * end), since every entry up to that head was committed before the read.
 */
function wholeRange(s: UnsignedExportStatement): string | undefined {
  if (s.count === 0) return undefined;
  if (s.count !== s.toSeq - s.fromSeq + 1) return `the exported rows from ${s.fromSeq} to ${s.toSeq} are ${s.count}: some seqs are missing or repeated`;
  const end = Math.min(s.requestedTo ?? Number.MAX_SAFE_INTEGER, s.headSeq);
  return s.toSeq < end ? `the export ends at ${s.toSeq}, but the head was at ${s.headSeq} when it began: entries are missing` : undefined;
}

/** verify's damage in [from, to] as a reason not to sign, or undefined. */
async function damageIn(
  store: AuditStore,
  keys: AuditPublicKeys,
  workspaceId: string,
  from: number,
  to: number | undefined,
): Promise<Result<string | undefined, SqlError>> {
  const report = await verifyChain(store, keys, { workspaceId, from, ...(to !== undefined ? { to } : {}) });
  if (report.isErr()) return err(report.error);
  const damage = report.value.damage;
  return ok(damage === null ? undefined : `verify found damage (${damage.kind} at seq ${damage.seq}: ${damage.message})`);
}
