import { err, ok, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import { GENESIS_HASH } from "./chain.js";
import type { StoredEntry } from "./event.js";
import { checkpointValid, pruneValid, type Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import type { AuditStore } from "./store.js";
import { entryConsistent } from "./verify-entry.js";
import { checkRow, damage, hashAt } from "./verify-row.js";
import { RowCursor } from "./row-cursor.js";

/** How a chain was damaged. */
export type DamageKind = "modified" | "deleted" | "inserted" | "reordered" | "truncated" | "badSignature";

export interface Damage {
  readonly kind: DamageKind;
  /** The first bad sequence number. */
  readonly seq: number;
  readonly message: string;
}

export interface VerifyReport {
  readonly workspaceId: string;
  readonly ok: boolean;
  /** The earliest damage found, or null. */
  readonly damage: Damage | null;
  readonly from: number;
  /** The last seq checked (from - 1 when the range was empty). */
  readonly to: number;
  readonly entries: number;
  readonly checkpoints: number;
  /** Entries whose personal values were erased (still verified through their commitments). */
  readonly erased: number;
  /** Where the chain was anchored: its genesis, or a signed prune record. */
  readonly anchor: { readonly kind: "genesis" } | { readonly kind: "prune"; readonly throughSeq: number };
}

const PAGE = 2_000;

/**
 * Recomputes a workspace's chain over [from, to] and checks checkpoints and
 * prune records, naming the first bad seq and the kind of damage. Streams
 * pages of rows; reads the rest of the range only after damage is found, to
 * tell an insertion or a swap from a plain modification.
 */
export async function verifyChain(
  store: AuditStore,
  keys: AuditPublicKeys,
  options: { workspaceId: string; from?: number; to?: number },
): Promise<Result<VerifyReport, SqlError>> {
  const { workspaceId } = options;
  const [prunesR, checkpointsR, headR] = await Promise.all([
    store.prunes(workspaceId),
    store.checkpoints(workspaceId),
    store.head(workspaceId),
  ]);
  if (prunesR.isErr()) return err(prunesR.error);
  if (checkpointsR.isErr()) return err(checkpointsR.error);
  if (headR.isErr()) return err(headR.error);
  const problems: Damage[] = [];

  let anchorSeq = 0;
  let anchorHash: Uint8Array = GENESIS_HASH;
  for (const p of [...prunesR.value].sort((a, b) => a.throughSeq - b.throughSeq)) {
    // The rows below a prune record are gone either way; a bad signature is reported at its seq
    // (and anchors nothing trustworthy), rather than as a run of deleted rows.
    if (!pruneValid(p, keys)) {
      problems.push({ kind: "badSignature", seq: p.throughSeq, message: `prune record through seq ${p.throughSeq} has a bad signature` });
    }
    anchorSeq = p.throughSeq;
    anchorHash = Buffer.from(p.hash, "hex");
  }
  const from = Math.max(options.from ?? 1, anchorSeq + 1);
  const checkpoints = new Map<number, Checkpoint>();
  let claimedEnd = headR.value?.seq ?? 0;
  for (const c of checkpointsR.value) {
    if (c.seq < from || (options.to !== undefined && c.seq > options.to)) continue;
    if (!checkpointValid(c, keys)) {
      problems.push({ kind: "badSignature", seq: c.seq, message: `checkpoint at seq ${c.seq} has a bad signature` });
      continue;
    }
    checkpoints.set(c.seq, c);
    claimedEnd = Math.max(claimedEnd, c.seq);
  }
  if (options.to !== undefined) claimedEnd = Math.min(claimedEnd, options.to);

  let prev = anchorHash;
  if (from > anchorSeq + 1) {
    const before = await store.readEntries(workspaceId, { seq: from - 2, hash: new Uint8Array(32).fill(255) }, from - 1, 2);
    if (before.isErr()) return err(before.error);
    const row = before.value[0];
    if (row === undefined || row.seq !== from - 1) problems.push(damage("deleted", from - 1, "the entry before the range is missing"));
    else if (!hashAt(row, row.seq, workspaceId)) {
      problems.push(damage("modified", from - 1, "the entry before the range does not match its hash"));
    } else prev = row.hash;
  }

  const head = headR.value;
  const cursor = new RowCursor(store, workspaceId, from, options.to ?? Number.MAX_SAFE_INTEGER, PAGE);
  let expected = from;
  let entries = 0;
  let erased = 0;
  let checked = 0;
  let chainDamage: Damage | undefined;
  let headDamage: Damage | undefined;
  for (;;) {
    const next = await cursor.next();
    if (next.isErr()) return err(next.error);
    const row = next.value;
    if (row === undefined) break;
    const found = await checkRow(cursor, row, expected, prev, {
      store,
      workspaceId,
      anchorSeq,
      head,
      checkpoint: (seq) => checkpoints.get(seq),
    });
    if (found.isErr()) return err(found.error);
    if (found.value !== undefined) {
      chainDamage = found.value;
      break;
    }
    const content = entryConsistent(row);
    if (content !== undefined) {
      chainDamage = damage("modified", expected, content);
      break;
    }
    if (row.personal === null && row.body.includes('"commitments":{"')) erased++;
    const checkpoint = checkpoints.get(expected);
    if (checkpoint !== undefined) {
      checked++;
      if (checkpoint.headHash !== Buffer.from(row.hash).toString("hex")) {
        chainDamage = damage("modified", expected, `entry ${expected} differs from its signed checkpoint: the chain was rewritten at or before it`);
        break;
      }
    }
    // The head row is written in the same transaction as its entry: past the last checkpoint it is the
    // only other copy of the last hash, so a last entry rewritten with a recomputed hash (no successor
    // to contradict it) shows only here. Rewriting the head row too cannot be told from the truth.
    // Read on: a later row may say more precisely what happened (the original after an inserted copy).
    if (head !== undefined && expected === head.seq && Buffer.compare(head.hash, row.hash) !== 0) {
      headDamage = damage("modified", expected, `entry ${expected} differs from the head row: it was rewritten with a recomputed hash (or the head row was)`);
    }
    prev = row.hash;
    expected++;
    entries++;
  }
  if (chainDamage === undefined && expected - 1 < claimedEnd) {
    chainDamage = damage("truncated", expected, `entries from ${expected} to ${claimedEnd} are missing (the head or a signed checkpoint says they existed)`);
  }
  // Pushed first, so a sort tie names what the rows after the head showed rather than the bare mismatch.
  if (chainDamage !== undefined) problems.push(chainDamage);
  if (headDamage !== undefined) problems.push(headDamage);
  problems.sort((a, b) => a.seq - b.seq);
  const first = problems[0] ?? null;
  return ok({
    workspaceId,
    ok: first === null,
    damage: first,
    from,
    to: expected - 1,
    entries,
    checkpoints: checked,
    erased,
    anchor: anchorSeq > 0 ? { kind: "prune", throughSeq: anchorSeq } : { kind: "genesis" },
  });
}
