import { err, ok, type Result } from "neverthrow";
import { invalidInput, type InvalidInputError } from "../core/errors.js";
import type { SqlError } from "../core/postgres/result.js";
import { chainEvents, EMPTY_HEAD, type ChainHead, type KnownKey } from "./chain.js";
import type { PreparedEvent, StoredEntry } from "./event.js";
import type { Checkpoint, PruneRecord } from "./records.js";
import { monthBounds, partitionName, type AuditStore, type BatchOutcome, type ReadCursor, type StoreQuery } from "./store.js";

interface WorkspaceLog {
  head: ChainHead;
  /** Ordered by seq; index = seq - 1 - pruned. */
  entries: StoredEntry[];
  pruned: number;
  keys: Map<string, KnownKey>;
  checkpoints: Checkpoint[];
  prunes: PruneRecord[];
}

/**
 * The embedded default: everything in process memory, chained in one
 * synchronous section per batch (the JS event loop is the lock). Not durable
 * across restarts; use the Postgres store for that.
 */
export class MemoryAuditStore implements AuditStore {
  readonly kind = "memory";
  readonly #logs = new Map<string, WorkspaceLog>();

  #log(workspaceId: string): WorkspaceLog {
    let log = this.#logs.get(workspaceId);
    if (log === undefined) {
      log = { head: EMPTY_HEAD, entries: [], pruned: 0, keys: new Map(), checkpoints: [], prunes: [] };
      this.#logs.set(workspaceId, log);
    }
    return log;
  }

  async appendBatch(events: readonly PreparedEvent[], nowMs: number): Promise<Result<BatchOutcome[], SqlError>> {
    const out: BatchOutcome[] = new Array<BatchOutcome>(events.length);
    const groups = new Map<string, number[]>();
    events.forEach((e, i) => {
      const group = groups.get(e.workspaceId);
      if (group) group.push(i);
      else groups.set(e.workspaceId, [i]);
    });
    for (const [workspaceId, indexes] of groups) {
      const log = this.#log(workspaceId);
      const chained = chainEvents(log.head, indexes.map((i) => events[i] as PreparedEvent), nowMs, log.keys);
      chained.outcomes.forEach((o, j) => {
        const target = indexes[j] as number;
        if (o.kind === "new") {
          log.entries.push(o.entry);
          if (o.entry.idempotencyKey !== null) log.keys.set(o.entry.idempotencyKey, o.entry);
          out[target] = { seq: o.entry.seq, hash: o.entry.hash, recordedAtMs: o.entry.recordedAtMs, duplicate: false };
        } else out[target] = { seq: o.seq, hash: o.hash, recordedAtMs: o.recordedAtMs, duplicate: true };
      });
      log.head = chained.head;
    }
    return ok(out);
  }

  async head(workspaceId: string): Promise<Result<ChainHead | undefined, SqlError>> {
    const log = this.#logs.get(workspaceId);
    return ok(log === undefined || log.head.seq === 0 ? undefined : log.head);
  }

  async readEntries(
    workspaceId: string,
    after: ReadCursor | undefined,
    toSeq: number,
    limit: number,
  ): Promise<Result<StoredEntry[], SqlError>> {
    const log = this.#logs.get(workspaceId);
    if (log === undefined) return ok([]);
    const sorted = [...log.entries].sort((a, b) => a.seq - b.seq || Buffer.compare(a.hash, b.hash));
    const rows = sorted.filter(
      (e) =>
        e.seq <= toSeq &&
        (after === undefined || e.seq > after.seq || (e.seq === after.seq && Buffer.compare(e.hash, after.hash) > 0)),
    );
    return ok(rows.slice(0, limit));
  }

  async query(q: StoreQuery): Promise<Result<StoredEntry[], SqlError | InvalidInputError>> {
    // Any other order (even "ASC") would page in one direction and filter in the other: the same page forever.
    if (q.order !== "asc" && q.order !== "desc") return err(invalidInput('order must be "asc" or "desc"'));
    const log = this.#logs.get(q.workspaceId);
    if (log === undefined) return ok([]);
    const rows = log.entries.filter(
      (e) =>
        (q.actorType === undefined || e.index.actorType === q.actorType) &&
        (q.actorId === undefined || e.index.actorId === q.actorId) &&
        (q.action === undefined || e.index.action === q.action) &&
        (q.target === undefined || e.index.targets.includes(q.target)) &&
        (q.sinceMs === undefined || e.index.occurredAtMs >= q.sinceMs) &&
        (q.untilMs === undefined || e.index.occurredAtMs < q.untilMs) &&
        (q.afterSeq === undefined || (q.order === "asc" ? e.seq > q.afterSeq : e.seq < q.afterSeq)),
    );
    if (q.order === "desc") rows.reverse();
    return ok(rows.slice(0, q.limit));
  }

  async saveCheckpoint(checkpoint: Checkpoint): Promise<Result<void, SqlError>> {
    const log = this.#log(checkpoint.workspaceId);
    if (!log.checkpoints.some((c) => c.seq === checkpoint.seq)) log.checkpoints.push(checkpoint);
    return ok(undefined);
  }

  async checkpoints(workspaceId: string): Promise<Result<Checkpoint[], SqlError>> {
    return ok([...(this.#logs.get(workspaceId)?.checkpoints ?? [])].sort((a, b) => a.seq - b.seq));
  }

  async prunes(workspaceId: string): Promise<Result<PruneRecord[], SqlError>> {
    return ok([...(this.#logs.get(workspaceId)?.prunes ?? [])]);
  }

  async erase(
    workspaceId: string,
    match: { readonly seqs?: readonly number[]; readonly actorId?: string },
  ): Promise<Result<number, SqlError>> {
    const log = this.#logs.get(workspaceId);
    if (log === undefined) return ok(0);
    const seqs = match.seqs === undefined ? undefined : new Set(match.seqs);
    let erased = 0;
    log.entries = log.entries.map((e) => {
      const hit = (seqs === undefined || seqs.has(e.seq)) && (match.actorId === undefined || e.index.actorId === match.actorId);
      if (!hit || e.personal === null) return e;
      erased++;
      return { ...e, personal: null };
    });
    return ok(erased);
  }

  async prune(
    beforeMs: number,
    sign: (p: { workspaceId: string; throughSeq: number; hash: string; partition: string }) => PruneRecord,
  ): Promise<Result<PruneRecord[], SqlError>> {
    const records: PruneRecord[] = [];
    for (const [workspaceId, log] of this.#logs) {
      // Whole months only, oldest first, exactly like dropping Postgres partitions.
      const keep = log.entries.filter((e) => monthBounds(e.recordedAtMs).end > beforeMs);
      const dropped = log.entries.length - keep.length;
      if (dropped === 0) continue;
      const last = log.entries[dropped - 1] as StoredEntry;
      const record = sign({
        workspaceId,
        throughSeq: last.seq,
        hash: Buffer.from(last.hash).toString("hex"),
        partition: partitionName(last.recordedAtMs),
      });
      log.prunes.push(record);
      log.entries = keep;
      log.pruned += dropped;
      records.push(record);
    }
    return ok(records);
  }

  /** Test hook: direct access to a workspace's rows, to simulate tampering. */
  rowsForTesting(workspaceId: string): StoredEntry[] {
    return this.#log(workspaceId).entries;
  }
}
