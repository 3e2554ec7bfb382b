import { err, ok, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import { entryHash, type ChainHead } from "./chain.js";
import type { StoredEntry } from "./event.js";
import type { Checkpoint } from "./records.js";
import type { RowCursor } from "./row-cursor.js";
import type { AuditStore } from "./store.js";
import type { Damage, DamageKind } from "./verify.js";

/** What `checkRow` may consult beyond the row, to name the entry that was rewritten. */
export interface RowContext {
  readonly store: AuditStore;
  readonly workspaceId: string;
  /** The seq a signed prune record anchors (0: the genesis). */
  readonly anchorSeq: number;
  /** The head row as read when verify started. */
  readonly head: ChainHead | undefined;
  /** The validly signed checkpoint at a seq, if any. */
  checkpoint(seq: number): Checkpoint | undefined;
}

export function damage(kind: DamageKind, seq: number, message: string): Damage {
  return { kind, seq, message };
}

/**
 * Whether the row hashes correctly as entry `seq`. A recorded-at that is not
 * a safe integer, or a prev_hash that is not 32 bytes, is no field an append
 * writes (an edited row: a jsonb or timestamptz `infinity`, a store's bad
 * conversion); entryHash cannot encode it (writeInt32BE throws a RangeError
 * on Infinity), so it is a mismatch here, never an exception out of verify.
 */
export function hashAt(row: StoredEntry, seq: number, workspaceId: string): boolean {
  if (seq < 1 || !Number.isSafeInteger(row.recordedAtMs) || row.prevHash.length !== 32) return false;
  return entryHash(workspaceId, seq, row.recordedAtMs, row.prevHash, row.body).equals(row.hash);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/**
 * Checks one row's position, hash and link. On failure it classifies the
 * damage by asking which untampered history explains what is seen: a row
 * that hashes correctly one seq lower was pushed down by an insertion; one
 * that hashes one seq higher was pulled up by a deletion; the row that
 * belongs here found later in the range means a reorder.
 */
export async function checkRow(
  cursor: RowCursor,
  row: StoredEntry,
  expected: number,
  prev: Uint8Array,
  context: RowContext,
): Promise<Result<Damage | undefined, SqlError>> {
  const { workspaceId } = context;
  const belongsHere = (r: StoredEntry) => r !== row && same(r.prevHash, prev) && hashAt(r, expected, workspaceId);
  if (row.seq < expected) return ok(damage("inserted", row.seq, `a second entry claims seq ${row.seq}`));
  if (row.seq > expected) {
    const rest = await cursor.rest();
    if (rest.isErr()) return err(rest.error);
    if ([row, ...rest.value].some((r) => same(r.prevHash, prev) && hashAt(r, expected, workspaceId))) {
      return ok(damage("reordered", expected, `entry ${expected} was moved to another position`));
    }
    return ok(damage("deleted", expected, `entries ${expected}..${row.seq - 1} are missing`));
  }
  if (hashAt(row, expected, workspaceId)) {
    if (same(row.prevHash, prev)) return ok(undefined);
    return rewrittenAtOrBefore(row, expected, context);
  }
  const rest = await cursor.rest();
  if (rest.isErr()) return err(rest.error);
  // A genuine row whose predecessor sits later in the range was moved up: a reorder.
  if (rest.value.some((r) => same(r.hash, row.prevHash))) return ok(damage("reordered", expected, `entry ${expected} was swapped with a later entry`));
  const following = rest.value[0];
  if (following !== undefined && following.seq <= expected + 1 && belongsHere(following)) {
    return ok(damage("inserted", expected, `entry ${expected} was inserted; the original follows it`));
  }
  if (rest.value.some(belongsHere)) return ok(damage("reordered", expected, `entry ${expected} was swapped with a later entry`));
  if (hashAt(row, expected + 1, workspaceId)) return ok(damage("deleted", expected, `entry ${expected} was deleted and later entries renumbered`));
  if (hashAt(row, expected - 1, workspaceId)) return ok(damage("inserted", expected - 1, `an entry was inserted at ${expected - 1} and later entries renumbered`));
  return ok(damage("modified", expected, `entry ${expected} does not match its hash`));
}

/**
 * Entry k hashes correctly but does not link to entry k-1: one of the two
 * was rewritten with a recomputed hash. Either k-1 changed (k still holds
 * its original hash), or k's own prev_hash changed. What else commits to
 * entry k tells them apart: a signed checkpoint at k, else entry k+1's
 * prev_hash (read past the verified range if need be), else the head row
 * when k is the last entry. Each holds k's original hash: if it differs from
 * the row's, k is the rewritten one. With none of them (k is the last entry
 * and the head row was rewritten too) nothing can tell; k-1 is named, the
 * earlier of the two, so no damage is placed after where it may start.
 * Entry 1, and the first entry after a prune, have no predecessor row that
 * could have been rewritten: they are named themselves.
 */
async function rewrittenAtOrBefore(row: StoredEntry, k: number, context: RowContext): Promise<Result<Damage, SqlError>> {
  const itself = damage("modified", k, `entry ${k} was rewritten with a recomputed hash: it no longer links to entry ${k - 1}`);
  if (k === 1 || k === context.anchorSeq + 1) return ok(damage("modified", k, `entry ${k} does not link to its predecessor`));
  const before = damage("modified", k - 1, `entry ${k - 1} was rewritten with a recomputed hash; entry ${k} still links to the original`);
  const checkpoint = context.checkpoint(k);
  if (checkpoint !== undefined) return ok(checkpoint.headHash === Buffer.from(row.hash).toString("hex") ? before : itself);
  const next = await context.store.readEntries(context.workspaceId, { seq: k, hash: new Uint8Array(32).fill(255) }, k + 1, 1);
  if (next.isErr()) return err(next.error);
  const successor = next.value[0];
  if (successor !== undefined) return ok(same(successor.prevHash, row.hash) ? before : itself);
  if (context.head !== undefined && context.head.seq === k) return ok(same(context.head.hash, row.hash) ? before : itself);
  return ok(before);
}
