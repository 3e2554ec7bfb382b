import { err, ok, type Result } from "neverthrow";
import { invalidInput, type InvalidInputError } from "../../core/errors.js";
import { sqlResult, sqlStateOf, toSqlError, type SqlError } from "../../core/postgres/result.js";
import type { SqlClient } from "../../core/postgres/sql-client.js";
import type { ChainHead } from "../chain.js";
import type { PreparedEvent, StoredEntry } from "../event.js";
import type { Checkpoint, PruneRecord } from "../records.js";
import type { AuditStore, BatchOutcome, ReadCursor, StoreQuery } from "../store.js";
import { BatchWriter } from "./batch-writer.js";
import { PartitionManager } from "./partitions.js";
import { ENTRY_COLUMNS, toStoredEntry, type EntryRow } from "./rows.js";
import { pruneMonths } from "./prune.js";

const RETRIES = 5;
/** The latest occurredAt append accepts (9999-12-31T23:59:59.999Z); the earliest is the epoch. */
const OCCURRED_MAX_MS = 253_402_300_799_999;
/** The only SQL an `order` becomes: the caller's text is never pasted into a statement. */
const ORDER_SQL = new Map<unknown, string>([
  ["asc", "order by seq asc"],
  ["desc", "order by seq desc"],
]);

/**
 * The durable AuditStore on Postgres (a `pg` Pool, drizzle or PGlite through
 * `toSqlClient`). Batches are chained in Node and written by `BatchWriter`
 * through `audit_append_chained`, which checks the chain's heads under the
 * head locks (taken in workspace order, so concurrent batches cannot
 * deadlock) and writes entries, idempotency keys and heads together; a batch
 * whose heads moved, and the batches of workspaces other processes write
 * too, go through `audit_append_locked`, which chains under the locks. It
 * resolves after COMMIT.
 * Concurrent writers in any number of processes serialise per workspace and
 * never fork a chain; different workspaces commit in parallel.
 */
export class PostgresAuditStore implements AuditStore {
  readonly kind = "postgres";
  readonly #partitions: PartitionManager;
  readonly #writer: BatchWriter;

  constructor(readonly sql: SqlClient) {
    this.#partitions = new PartitionManager(sql);
    this.#writer = new BatchWriter(sql);
  }

  split(events: readonly PreparedEvent[]): PreparedEvent[][] {
    return this.#writer.split(events);
  }

  async appendBatch(events: readonly PreparedEvent[], nowMs: number): Promise<Result<BatchOutcome[], SqlError>> {
    if (events.length === 0) {
      return sqlResult("audit partition", () => this.#partitions.ensure(nowMs)).then((r) => r.map(() => []));
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#partitions.ensure(nowMs);
        return ok(await this.#writer.write(events, nowMs));
      } catch (thrown) {
        const code = sqlStateOf(thrown);
        if (code === "23514" && attempt < RETRIES) {
          // No partition for the row: a head's recorded-at (another host's clock) is in a month not created yet.
          const ahead = await sqlResult("audit heads", () =>
            this.sql.query<{ ms: number | null }>("select max(recorded_at_ms)::float8 as ms from audit_head where workspace_id = any($1::uuid[])", [
              [...new Set(events.map((e) => e.workspaceId))],
            ]),
          );
          const ms = ahead.isOk() ? Number(ahead.value.rows[0]?.ms ?? nowMs) : nowMs;
          await this.#partitions.ensure(Math.max(ms, nowMs)).catch(() => undefined);
          continue;
        }
        // Deadlocks and serialisation failures rolled back for sure, so a retry cannot duplicate.
        if ((code === "40P01" || code === "40001") && attempt < RETRIES) continue;
        return err(toSqlError(thrown, "audit append"));
      }
    }
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

  async query(q: StoreQuery): Promise<Result<StoredEntry[], SqlError | InvalidInputError>> {
    const orderBy = ORDER_SQL.get(q.order);
    if (orderBy === undefined) return err(invalidInput('order must be "asc" or "desc"'));
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
      // Every occurred_at is within [0, OCCURRED_MAX_MS] (append checks it); a bound outside that range
      // (a valid date Postgres may not parse, as years before 1 or after 9999) is decided here.
      if (q.sinceMs !== undefined) {
        if (q.sinceMs > OCCURRED_MAX_MS) where.push("false");
        else if (q.sinceMs > 0) add("occurred_at >= ?::timestamptz", new Date(q.sinceMs).toISOString());
      }
      if (q.untilMs !== undefined) {
        if (q.untilMs <= 0) where.push("false");
        else if (q.untilMs <= OCCURRED_MAX_MS) add("occurred_at < ?::timestamptz", new Date(q.untilMs).toISOString());
      }
      if (q.afterSeq !== undefined) add(q.order === "asc" ? "seq > ?" : "seq < ?", q.afterSeq);
      params.push(q.limit);
      const { rows } = await this.sql.query<EntryRow>(
        `select ${ENTRY_COLUMNS} from audit_entry where ${where.join(" and ")} ${orderBy} limit $${params.length}`,
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
