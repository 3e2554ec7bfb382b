import { err, ok, type Result } from "neverthrow";
import { sqlResult, toSqlError, type SqlError } from "../../core/postgres/result.js";
import type { SqlClient, SqlExecutor } from "../../core/postgres/sql-client.js";
import { chainEvents, EMPTY_HEAD, type ChainHead, type KnownKey } from "../chain.js";
import type { PreparedEvent, StoredEntry } from "../event.js";
import type { Checkpoint, PruneRecord } from "../records.js";
import type { AuditStore, BatchOutcome, ReadCursor, StoreQuery } from "../store.js";
import { PartitionManager, PartitionMissing } from "./partitions.js";
import { ENTRY_COLUMNS, INSERT_ENTRIES, entryArrays, toStoredEntry, type EntryRow } from "./rows.js";
import { pruneMonths } from "./prune.js";

const RETRIES = 5;

/**
 * The durable AuditStore on Postgres (a `pg` Pool, drizzle or PGlite through
 * `toSqlClient`). One transaction per batch: the heads of the batch's
 * workspaces are locked (`select … for update`, in workspace order so
 * concurrent batches cannot deadlock), events are chained in the app under
 * that lock, and entries, idempotency keys and heads are written together.
 * Concurrent writers in any number of processes serialise per workspace and
 * never fork a chain; different workspaces commit in parallel.
 */
export class PostgresAuditStore implements AuditStore {
  readonly kind = "postgres";
  readonly #partitions: PartitionManager;
  readonly #knownHeads = new Set<string>();

  constructor(readonly sql: SqlClient) {
    this.#partitions = new PartitionManager(sql);
  }

  async appendBatch(events: readonly PreparedEvent[], nowMs: number): Promise<Result<BatchOutcome[], SqlError>> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#partitions.ensure(nowMs);
        await this.#ensureHeads(events);
        return ok(await this.sql.transaction((tx) => this.#appendIn(tx, events, nowMs)));
      } catch (thrown) {
        if (thrown instanceof PartitionMissing && attempt < RETRIES) {
          await this.#partitions.ensure(thrown.ms).catch(() => undefined);
          continue;
        }
        const code = (thrown as { code?: unknown }).code;
        // Deadlocks and serialisation failures rolled back for sure, so a retry cannot duplicate.
        if ((code === "40P01" || code === "40001") && attempt < RETRIES) continue;
        return err(toSqlError(thrown, "audit append"));
      }
    }
  }

  async #ensureHeads(events: readonly PreparedEvent[]): Promise<void> {
    const missing = [...new Set(events.map((e) => e.workspaceId))].filter((w) => !this.#knownHeads.has(w)).sort();
    if (missing.length === 0) return;
    await this.sql.query(
      "insert into audit_head (workspace_id) select unnest($1::uuid[]) order by 1 on conflict do nothing",
      [missing],
    );
    for (const w of missing) this.#knownHeads.add(w);
  }

  async #appendIn(tx: SqlExecutor, events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const groups = new Map<string, number[]>();
    events.forEach((e, i) => {
      const g = groups.get(e.workspaceId);
      if (g) g.push(i);
      else groups.set(e.workspaceId, [i]);
    });
    const workspaces = [...groups.keys()].sort();
    const { rows: heads } = await tx.query<{ workspace_id: string; seq: number; hash: Uint8Array; recorded_at_ms: number }>(
      `select workspace_id::text as workspace_id, seq::float8 as seq, hash, recorded_at_ms::float8 as recorded_at_ms
       from audit_head where workspace_id = any($1::uuid[]) order by workspace_id for update`,
      [workspaces],
    );
    const headOf = new Map<string, ChainHead>();
    for (const h of heads) headOf.set(h.workspace_id, { seq: Number(h.seq), hash: Buffer.from(h.hash), recordedAtMs: Number(h.recorded_at_ms) });
    if (headOf.size !== workspaces.length) throw Object.assign(new Error("audit head row missing"), { code: "40001" });
    const known = await this.#knownKeys(tx, events);
    const out: BatchOutcome[] = new Array<BatchOutcome>(events.length);
    const entries: StoredEntry[] = [];
    const newHeads: { w: string; head: ChainHead }[] = [];
    for (const w of workspaces) {
      const indexes = groups.get(w) as number[];
      const chained = chainEvents(headOf.get(w) ?? EMPTY_HEAD, indexes.map((i) => events[i] as PreparedEvent), nowMs, known.get(w) ?? new Map());
      chained.outcomes.forEach((o, j) => {
        const target = indexes[j] as number;
        out[target] = o.kind === "new"
          ? { seq: o.entry.seq, hash: o.entry.hash, recordedAtMs: o.entry.recordedAtMs, duplicate: false }
          : { seq: o.seq, hash: o.hash, recordedAtMs: o.recordedAtMs, duplicate: true };
      });
      if (chained.entries.length > 0) {
        entries.push(...chained.entries);
        newHeads.push({ w, head: chained.head });
        if (!this.#partitions.has(chained.head.recordedAtMs)) throw new PartitionMissing(chained.head.recordedAtMs);
      }
    }
    if (entries.length === 0) return out;
    // Entries, idempotency keys and heads in one statement (data-modifying CTEs always run): one round trip.
    const keyed = entries.filter((e) => e.idempotencyKey !== null);
    const params = [
      ...entryArrays(entries),
      newHeads.map((n) => n.w),
      newHeads.map((n) => n.head.seq),
      newHeads.map((n) => Buffer.from(n.head.hash).toString("hex")),
      newHeads.map((n) => n.head.recordedAtMs),
    ];
    const keys = keyed.length === 0 ? "" : `, k as (insert into audit_idempotency (workspace_id, key, seq, hash, recorded_at_ms)
         select w, k, s, decode(h, 'hex'), r from unnest($19::uuid[], $20::text[], $21::bigint[], $22::text[], $23::bigint[]) as u(w, k, s, h, r))`;
    if (keyed.length > 0) {
      params.push(keyed.map((e) => e.workspaceId), keyed.map((e) => e.idempotencyKey), keyed.map((e) => e.seq),
        keyed.map((e) => Buffer.from(e.hash).toString("hex")), keyed.map((e) => e.recordedAtMs));
    }
    await tx.query(
      `with e as (${INSERT_ENTRIES}),
       h as (update audit_head h set seq = u.s, hash = decode(u.h, 'hex'), recorded_at_ms = u.r
         from unnest($15::uuid[], $16::bigint[], $17::text[], $18::bigint[]) as u(w, s, h, r) where h.workspace_id = u.w)${keys}
       select 1`,
      params,
    );
    return out;
  }

  async #knownKeys(tx: SqlExecutor, events: readonly PreparedEvent[]): Promise<Map<string, Map<string, KnownKey>>> {
    const keyed = events.filter((e) => e.idempotencyKey !== null);
    const known = new Map<string, Map<string, KnownKey>>();
    if (keyed.length === 0) return known;
    const { rows } = await tx.query<{ workspace_id: string; key: string; seq: number; hash: Uint8Array; recorded_at_ms: number }>(
      `select i.workspace_id::text as workspace_id, i.key, i.seq::float8 as seq, i.hash, i.recorded_at_ms::float8 as recorded_at_ms
       from audit_idempotency i join unnest($1::uuid[], $2::text[]) as u(w, k) on i.workspace_id = u.w and i.key = u.k`,
      [keyed.map((e) => e.workspaceId), keyed.map((e) => e.idempotencyKey)],
    );
    for (const r of rows) {
      let m = known.get(r.workspace_id);
      if (m === undefined) known.set(r.workspace_id, (m = new Map()));
      m.set(r.key, { seq: Number(r.seq), hash: Buffer.from(r.hash), recordedAtMs: Number(r.recorded_at_ms) });
    }
    return known;
  }

  head(workspaceId: string): Promise<Result<ChainHead | undefined, SqlError>> {
    return sqlResult("audit head", async () => {
      const { rows } = await this.sql.query<{ seq: number; hash: Uint8Array; recorded_at_ms: number }>(
        "select seq::float8 as seq, hash, recorded_at_ms::float8 as recorded_at_ms from audit_head where workspace_id = $1",
        [workspaceId],
      );
      const row = rows[0];
      return row === undefined || Number(row.seq) === 0
        ? undefined
        : { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) };
    });
  }

  readEntries(workspaceId: string, after: ReadCursor | undefined, toSeq: number, limit: number): Promise<Result<StoredEntry[], SqlError>> {
    return sqlResult("audit read", async () => {
      const { rows } = await this.sql.query<EntryRow>(
        `select ${ENTRY_COLUMNS} from audit_entry where workspace_id = $1 and seq <= $2
         and (seq, hash) > ($3::bigint, decode($4, 'hex')) order by seq, hash limit $5`,
        [workspaceId, Math.min(toSeq, Number.MAX_SAFE_INTEGER), after?.seq ?? 0, Buffer.from(after?.hash ?? new Uint8Array(32).fill(255)).toString("hex"), limit],
      );
      return rows.map(toStoredEntry);
    });
  }

  query(q: StoreQuery): Promise<Result<StoredEntry[], SqlError>> {
    return sqlResult("audit query", async () => {
      const where = ["workspace_id = $1"];
      const params: unknown[] = [q.workspaceId];
      const add = (clause: string, value: unknown) => {
        params.push(value);
        where.push(clause.replace("?", `$${params.length}`));
      };
      if (q.actorType !== undefined) add("actor_type = ?", q.actorType);
      if (q.actorId !== undefined) add("actor_id = ?", q.actorId);
      if (q.action !== undefined) add("action = ?", q.action);
      if (q.target !== undefined) add("targets @> ?::jsonb", JSON.stringify([q.target]));
      if (q.sinceMs !== undefined) add("occurred_at >= ?::timestamptz", new Date(q.sinceMs).toISOString());
      if (q.untilMs !== undefined) add("occurred_at < ?::timestamptz", new Date(q.untilMs).toISOString());
      if (q.afterSeq !== undefined) add(q.order === "asc" ? "seq > ?" : "seq < ?", q.afterSeq);
      params.push(q.limit);
      const { rows } = await this.sql.query<EntryRow>(
        `select ${ENTRY_COLUMNS} from audit_entry where ${where.join(" and ")} order by seq ${q.order} limit $${params.length}`,
        params,
      );
      return rows.map(toStoredEntry);
    });
  }

  saveCheckpoint(c: Checkpoint): Promise<Result<void, SqlError>> {
    return sqlResult("audit checkpoint", async () => {
      await this.sql.query(
        `insert into audit_checkpoint (workspace_id, seq, head_hash, signed_at, key_id, signature)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
        [c.workspaceId, c.seq, c.headHash, c.signedAt, c.keyId, c.signature],
      );
    });
  }

  checkpoints(workspaceId: string): Promise<Result<Checkpoint[], SqlError>> {
    return sqlResult("audit checkpoints", async () => {
      const { rows } = await this.sql.query<{ seq: number; head_hash: string; signed_at: string; key_id: string; signature: string }>(
        "select seq::float8 as seq, head_hash, signed_at, key_id, signature from audit_checkpoint where workspace_id = $1 order by seq",
        [workspaceId],
      );
      return rows.map((r) => ({ workspaceId, seq: Number(r.seq), headHash: r.head_hash, signedAt: r.signed_at, keyId: r.key_id, signature: r.signature }));
    });
  }

  prunes(workspaceId: string): Promise<Result<PruneRecord[], SqlError>> {
    return sqlResult("audit prunes", async () => {
      const { rows } = await this.sql.query<{ through_seq: number; hash: string; partition: string; pruned_at: string; key_id: string; signature: string }>(
        "select through_seq::float8 as through_seq, hash, partition, pruned_at, key_id, signature from audit_prune where workspace_id = $1 order by through_seq",
        [workspaceId],
      );
      return rows.map((r) => ({ workspaceId, throughSeq: Number(r.through_seq), hash: r.hash, partition: r.partition, prunedAt: r.pruned_at, keyId: r.key_id, signature: r.signature }));
    });
  }

  erase(workspaceId: string, match: { readonly seqs?: readonly number[]; readonly actorId?: string }): Promise<Result<number, SqlError>> {
    return sqlResult("audit erase", async () => {
      const result = await this.sql.query(
        `update audit_entry set personal = null where workspace_id = $1 and personal is not null
         and ($2::bigint[] is null or seq = any($2::bigint[])) and ($3::text is null or actor_id = $3)`,
        [workspaceId, match.seqs === undefined ? null : [...match.seqs], match.actorId ?? null],
      );
      return Number(result.rowCount ?? 0);
    });
  }

  prune(
    beforeMs: number,
    sign: (p: { workspaceId: string; throughSeq: number; hash: string; partition: string }) => PruneRecord,
  ): Promise<Result<PruneRecord[], SqlError>> {
    return sqlResult("audit prune", () => pruneMonths(this.sql, beforeMs, sign, (name) => this.#partitions.forget(name)));
  }
}
