import { err, ok, type Result } from "neverthrow";
import { storeFailed } from "../../core/errors.js";
import { sqlResult } from "../../core/postgres/result.js";
import { toSqlClient, type PostgresSource, type SqlClient, type SqlExecutor } from "../../core/postgres/sql-client.js";
import {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  type QuotaStore,
  type QuotaStoreError,
  type StoreOutcome,
  type StoreRequest,
} from "../store.js";
import { MemoryQuotaStore } from "./memory.js";
import { QUOTA_MIGRATION_SQL } from "./postgres-schema.js";
import { underMigrationLock } from "../../core/postgres/migration-lock.js";

export interface PostgresQuotaStoreOptions {
  /** A `pg` Pool, a drizzle database, or PGlite. */
  readonly db: PostgresSource;
}

/** Thrown out of a decision's transaction to roll it back (the decision itself is kept aside). */
const ROLLBACK = new Error("quota decision writes nothing: rolled back");

interface Row {
  root_workspace_id: string;
  workspace_id: string;
  limit_name: string;
  state: unknown;
}

/**
 * The durable store for deployments without Redis: each decision is one
 * transaction that locks the rows involved (in key order, so concurrent
 * decisions never deadlock), runs the memory store's own algorithms on them
 * at the database's clock, and writes back. Same semantics as memory and
 * Redis, checked by the same contract suite; slower (a few round trips).
 */
export class PostgresQuotaStore implements QuotaStore {
  readonly name = "postgres";
  readonly kinds: readonly number[] = [KIND_COUNT, KIND_PERIOD, KIND_GCRA, KIND_SLIDING, KIND_CONCURRENCY];
  readonly #sql: SqlClient;

  /** @throws TypeError when `db` is not a pg Pool, drizzle database or PGlite. */
  constructor(options: PostgresQuotaStoreOptions) {
    const sql = toSqlClient(options.db);
    if (sql === undefined) throw new TypeError("PostgresQuotaStore: db must be a pg Pool, a drizzle database or PGlite");
    this.#sql = sql;
  }

  /** Creates the quota tables if missing (or apply QUOTA_MIGRATION_SQL with your migrations). */
  async migrate(): Promise<Result<void, QuotaStoreError>> {
    return sqlResult("create quota tables", () => this.#sql.exec(underMigrationLock(QUOTA_MIGRATION_SQL)));
  }

  key(root: string, workspaceId: string, limit: string): string {
    return `${root}/${workspaceId}/${limit}`;
  }

  async apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const keys = [...new Set(request.items.map((i) => i.key))].sort();
    const parts = keys.map((k) => k.split("/"));
    let unwritten: Result<StoreOutcome, QuotaStoreError> | undefined;
    const result = await sqlResult("quota decision", () =>
      this.#sql.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO tenancy_quota_state (root_workspace_id, workspace_id, limit_name)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) ON CONFLICT DO NOTHING`,
          [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.map((p) => p[2])],
        );
        const rows = await tx.query<Row & { now_ms: string }>(
          `SELECT root_workspace_id, workspace_id, limit_name, state,
                  (extract(epoch from clock_timestamp()) * 1000)::bigint AS now_ms
             FROM tenancy_quota_state
            WHERE (root_workspace_id, workspace_id, limit_name) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]))
            ORDER BY root_workspace_id, workspace_id, limit_name
              FOR UPDATE`,
          [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.map((p) => p[2])],
        );
        const outcome = await this.#decide(tx, request, rows.rows);
        if (outcome.isErr() || !outcome.value.allowed || request.mode === "check") {
          // An Err, a denial and a check write nothing: a throw rolls back even the rows
          // inserted above for keys not stored yet.
          unwritten = outcome;
          throw ROLLBACK;
        }
        return outcome;
      }),
    );
    if (unwritten !== undefined) return unwritten;
    if (result.isErr()) return err(result.error);
    return result.value;
  }

  async #decide(tx: SqlExecutor, request: StoreRequest, rows: (Row & { now_ms: string })[]): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const now = Number(rows[0]?.now_ms ?? Date.now());
    const memory = new MemoryQuotaStore({ clock: { now: () => now } });
    const byKey = new Map(rows.map((r) => [`${r.root_workspace_id}/${r.workspace_id}/${r.limit_name}`, r.state]));
    // Keys whose row holds state of another kind (the limit's kind changed): it reads as absent.
    const foreign = new Set<string>();
    for (const item of request.items) {
      const state = byKey.get(item.key);
      if (!memory.load(item.key, item.kind, state)) {
        // Corrupt state is reported, never guessed at; the transaction writes nothing.
        return err(storeFailed(`quota state for ${item.key} is corrupt: ${JSON.stringify(state).slice(0, 120)}`));
      }
      if (state !== null && state !== undefined && memory.dump(item.key, item.kind) === undefined) foreign.add(item.key);
    }
    const outcome = memory.applySync(request);
    if (outcome.isErr() || !outcome.value.allowed || request.mode === "check") return outcome;
    for (const item of request.items) {
      // A write that left no state of the new kind (a refund) keeps the other kind's row as it is.
      if (foreign.has(item.key) && memory.dump(item.key, item.kind) === undefined) continue;
      const [root, ws, limit] = item.key.split("/");
      await tx.query(
        `UPDATE tenancy_quota_state SET state = $4::jsonb, updated_at = now()
          WHERE root_workspace_id = $1 AND workspace_id = $2 AND limit_name = $3`,
        [root, ws, limit, JSON.stringify(memory.dump(item.key, item.kind) ?? null)],
      );
    }
    return ok(outcome.value);
  }
}

/** Creates the Postgres quota store. */
export function postgresQuotaStore(options: PostgresQuotaStoreOptions): PostgresQuotaStore {
  return new PostgresQuotaStore(options);
}
