import { createHash } from "node:crypto";
import type { PreparedEvent, StoredEntry } from "./event.js";

/** The previous hash of a workspace's first entry. */
export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

const DOMAIN = Buffer.from("tenancykit/audit/entry/v1\n");

/**
 * SHA-256 over a domain tag and every stored field of the entry: the
 * workspace id (36 ASCII bytes), seq and recorded-at (8 bytes each, big
 * endian), the previous hash (32 bytes) and the canonical body (the rest).
 * Every field before the body has a fixed length, so the encoding is
 * unambiguous without length prefixes.
 */
export function entryHash(
  workspaceId: string,
  seq: number,
  recordedAtMs: number,
  prevHash: Uint8Array,
  body: string,
): Buffer {
  const header = Buffer.allocUnsafe(52);
  header.write(workspaceId, 0, 36, "latin1");
  header.writeBigUInt64BE(BigInt(seq), 36);
  header.writeBigInt64BE(BigInt(recordedAtMs), 44);
  return createHash("sha256").update(DOMAIN).update(header).update(prevHash).update(body).digest();
}

/** A workspace's chain head: the last seq and hash, and the last recorded-at (kept monotonic). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly recordedAtMs: number;
}

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH, recordedAtMs: 0 };

/** Where each event of a batch went: a new entry, or the stored entry its idempotency key names. */
export type ChainOutcome =
  | { readonly kind: "new"; readonly entry: StoredEntry }
  | { readonly kind: "duplicate"; readonly seq: number; readonly hash: Uint8Array; readonly recordedAtMs: number };

export interface KnownKey {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly recordedAtMs: number;
}

/**
 * Chains one workspace's events onto its locked head. Must run while the
 * head is held exclusively (a row lock in Postgres, a synchronous section in
 * memory). Repeated idempotency keys (already stored, or earlier in this
 * batch) become duplicates of the first. `recordedAt` never goes backwards
 * within a workspace, even across hosts with skewed clocks, so monthly
 * partitions always hold a seq-contiguous slice of each chain.
 */
export function chainEvents(
  head: ChainHead,
  events: readonly PreparedEvent[],
  nowMs: number,
  known: ReadonlyMap<string, KnownKey>,
): { outcomes: ChainOutcome[]; head: ChainHead; entries: StoredEntry[] } {
  const outcomes: ChainOutcome[] = [];
  const entries: StoredEntry[] = [];
  const seen = new Map<string, KnownKey>();
  let { seq, hash } = head;
  const recordedAtMs = Math.max(nowMs, head.recordedAtMs);
  for (const event of events) {
    const key = event.idempotencyKey;
    if (key !== null) {
      const prior = known.get(key) ?? seen.get(key);
      if (prior !== undefined) {
        outcomes.push({ kind: "duplicate", ...prior });
        continue;
      }
    }
    seq += 1;
    const next = entryHash(event.workspaceId, seq, recordedAtMs, hash, event.body);
    const entry: StoredEntry = {
      workspaceId: event.workspaceId,
      seq,
      recordedAtMs,
      prevHash: hash,
      hash: next,
      body: event.body,
      personal: event.personal,
      idempotencyKey: key,
      index: event.index,
    };
    entries.push(entry);
    outcomes.push({ kind: "new", entry });
    if (key !== null) seen.set(key, { seq, hash: next, recordedAtMs });
    hash = next;
  }
  return { outcomes, entries, head: entries.length > 0 ? { seq, hash, recordedAtMs } : head };
}
