import { hash } from "node:crypto";
import type { PreparedEvent, StoredEntry } from "./event.js";

/** The previous hash of a workspace's first entry. */
export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

const DOMAIN = Buffer.from("tenancykit/audit/entry/v1\n");
/** Where each fixed-length field starts in the hashed bytes. */
const WS_AT = DOMAIN.length;
const SEQ_AT = WS_AT + 36;
const RECORDED_AT = SEQ_AT + 8;
const PREV_AT = RECORDED_AT + 8;
const BODY_AT = PREV_AT + 32;

/**
 * The bytes of one entry are assembled in this reused buffer and hashed with
 * one `crypto.hash` call: a Hash object and four `update`s per entry cost
 * about half as much again (measured ~3.7 vs ~2.5 µs per entry). Grown when a
 * body needs more (3 UTF-8 bytes per UTF-16 unit at most).
 */
let scratch = Buffer.allocUnsafe(8_192);

/** Writes a non-negative safe integer (or a signed epoch ms) as 8 big-endian bytes without BigInt. */
function writeInt64BE(buf: Buffer, value: number, at: number): void {
  const high = Math.floor(value / 2 ** 32);
  buf.writeInt32BE(high, at);
  buf.writeUInt32BE(value - high * 2 ** 32, at + 4);
}

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
  const need = BODY_AT + 3 * body.length;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, 2 * scratch.length));
  const buf = scratch;
  DOMAIN.copy(buf, 0);
  // A parsed workspace id is 36 ASCII characters; anything shorter is zero-padded, as a fixed field.
  if (buf.write(workspaceId, WS_AT, 36, "latin1") < 36) buf.fill(0, WS_AT + Buffer.byteLength(workspaceId, "latin1"), SEQ_AT);
  writeInt64BE(buf, seq, SEQ_AT);
  writeInt64BE(buf, recordedAtMs, RECORDED_AT);
  buf.set(prevHash, PREV_AT);
  const bodyBytes = buf.write(body, BODY_AT, "utf8");
  // The digest as a "binary" (latin1: one byte per char) string and back: in Node 20 `hash(…, "buffer")` costs
  // ~0.6 µs more per call than this round trip (measured: 1.3 vs 0.75 µs for a 520-byte entry).
  return Buffer.from(hash("sha256", buf.subarray(0, BODY_AT + bodyBytes), "binary"), "latin1");
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
