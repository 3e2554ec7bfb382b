import type { Result } from "neverthrow";
import type { InvalidInputError } from "../core/errors.js";
import type { SqlError } from "../core/postgres/result.js";
import type { ChainHead } from "./chain.js";
import type { PreparedEvent, StoredEntry } from "./event.js";
import type { Checkpoint, PruneRecord } from "./records.js";

/** Where one event of a committed batch ended up. */
export interface BatchOutcome {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly recordedAtMs: number;
  readonly duplicate: boolean;
}

/** Filters of `query`; all optional except the workspace. Keyset on seq, newest first by default. */
export interface StoreQuery {
  readonly workspaceId: string;
  readonly actorType?: string;
  readonly actorId?: string;
  readonly action?: string;
  /** `type:id`, unescaped, as in the `targets` column (so a superset: see `runQuery`). */
  readonly target?: string;
  readonly sinceMs?: number;
  readonly untilMs?: number;
  /** Exclusive keyset bound on seq. */
  readonly afterSeq?: number;
  readonly order: "asc" | "desc";
  readonly limit: number;
}

/** Position after which `readEntries` continues: (seq, hash) so duplicate seqs are never skipped. */
export interface ReadCursor {
  readonly seq: number;
  readonly hash: Uint8Array;
}

/**
 * The durable side of AuditLogger. `appendBatch` must chain each workspace's
 * events while holding that workspace's head exclusively and must resolve
 * only after the batch is durable (committed), all or nothing.
 */
export interface AuditStore {
  readonly kind: string;
  appendBatch(events: readonly PreparedEvent[], nowMs: number): Promise<Result<BatchOutcome[], SqlError>>;
  /**
   * Optional: splits a batch into parts better written separately, each then its own
   * `appendBatch`, settled on its own. The first part counts as the batch in flight; the others
   * commit beside it. The Postgres store puts the workspaces other processes are writing too in a
   * part of their own, so the others do not wait on those locks. Every event must be in exactly
   * one part, and the events of a workspace together, in order.
   */
  split?(events: readonly PreparedEvent[]): readonly (readonly PreparedEvent[])[];
  head(workspaceId: string): Promise<Result<ChainHead | undefined, SqlError>>;
  /** Entries with seq in (after, toSeq], ordered by (seq, hash), duplicates included. */
  readEntries(
    workspaceId: string,
    after: ReadCursor | undefined,
    toSeq: number,
    limit: number,
  ): Promise<Result<StoredEntry[], SqlError>>;
  /** An `order` other than exactly "asc" or "desc" is InvalidInput, and nothing runs. */
  query(query: StoreQuery): Promise<Result<StoredEntry[], SqlError | InvalidInputError>>;
  saveCheckpoint(checkpoint: Checkpoint): Promise<Result<void, SqlError>>;
  checkpoints(workspaceId: string): Promise<Result<Checkpoint[], SqlError>>;
  prunes(workspaceId: string): Promise<Result<PruneRecord[], SqlError>>;
  /** Removes personal values and salts of the matching entries; returns how many were erased. */
  erase(workspaceId: string, match: { readonly seqs?: readonly number[]; readonly actorId?: string }): Promise<Result<number, SqlError>>;
  /**
   * Drops every monthly partition that ends at or before `beforeMs`, writing
   * one signed prune record per workspace it held (made by `sign`) in the same
   * transaction as the drop.
   */
  prune(
    beforeMs: number,
    sign: (p: { workspaceId: string; throughSeq: number; hash: string; partition: string }) => PruneRecord,
  ): Promise<Result<PruneRecord[], SqlError>>;
}

/** `audit_entry_y2026m01` for any instant in January 2026 (UTC). */
export function partitionName(ms: number): string {
  const d = new Date(ms);
  return `audit_entry_y${d.getUTCFullYear()}m${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/** [start, end) of the UTC month holding `ms`. */
export function monthBounds(ms: number): { start: number; end: number } {
  const d = new Date(ms);
  return {
    start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
    end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}
