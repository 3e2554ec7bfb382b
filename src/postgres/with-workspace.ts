import { err, ok, type Result } from "neverthrow";
import { invalidInput, storeFailed, storeUnavailable, type StoreFailedError } from "../core/errors.js";
import { sqlStateOf, toSqlError } from "../core/postgres/result.js";
import {
  baseSource,
  commitTagIfNotCommit,
  IN_FAILED_TRANSACTION,
  toSqlClient,
  type PgPoolClientLike,
  type PostgresSource,
  type QueryResultRows,
  type SqlExecutor,
  isPgPool,
} from "../core/postgres/sql-client.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { acceptsSubmittable, BeginScoped, isPipelined, SET_CONTEXT_SQL } from "./begin-scoped.js";
import type { PostgresTenancyError } from "./errors.js";

export interface WithWorkspaceOptions {
  /**
   * Further workspaces this transaction may READ (never write), e.g. a parent
   * reading its children. Explicit, per transaction; sets `tenancy.workspace_ids`.
   */
  readonly readWorkspaceIds?: readonly string[];
}

/** The validated context of one scoped transaction. */
export interface ScopedContext {
  readonly workspaceId: WorkspaceId;
  /** `{a,b}` uuid-array text for `tenancy.workspace_ids`, or null. */
  readonly readWorkspaces: string | null;
}

/** Validates the ids before anything touches the database. */
export function scopedContext(
  workspaceId: unknown,
  options: WithWorkspaceOptions = {},
): Result<ScopedContext, PostgresTenancyError> {
  const id = parseWorkspaceId(workspaceId);
  if (id.isErr()) return err(id.error);
  if (typeof options !== "object" || options === null) return err(invalidInput("withWorkspace: options must be an object"));
  const extra: unknown = options.readWorkspaceIds;
  if (extra === undefined) return ok({ workspaceId: id.value, readWorkspaces: null });
  if (!Array.isArray(extra)) return err(invalidInput("readWorkspaceIds must be an array of workspace ids"));
  if (extra.length === 0) return ok({ workspaceId: id.value, readWorkspaces: null });
  const parsed: string[] = [];
  for (const raw of extra) {
    const one = parseWorkspaceId(raw);
    if (one.isErr()) return err({ ...one.error, message: `readWorkspaceIds: ${one.error.message}` });
    parsed.push(one.value);
  }
  return ok({ workspaceId: id.value, readWorkspaces: `{${parsed.join(",")}}` });
}

/**
 * An executor that refuses to run after its transaction ended: a `tx` that
 * escaped `fn` would otherwise query a pooled connection that may already be
 * serving another workspace.
 */
function guardedExecutor(run: SqlExecutor["query"], isOpen: () => boolean): SqlExecutor {
  return {
    query: <R>(text: string, params?: readonly unknown[]): Promise<QueryResultRows<R>> => {
      if (!isOpen()) return Promise.reject(new Error("workspace transaction already ended; do not keep `tx` beyond fn"));
      return run<R>(text, params);
    },
  };
}

/**
 * Runs `fn` in a workspace-scoped transaction on one already-acquired pg
 * client: BEGIN and the bound, transaction-local set_config (one round trip
 * on node-postgres), `fn`, then COMMIT, or ROLLBACK when `fn` returns an Err
 * or throws. A COMMIT that Postgres answers with ROLLBACK (an SQL error `fn`
 * caught had aborted the transaction) is a StoreFailed Err, not Ok. Releases
 * the client; destroys it when its state is unknown.
 */
export async function runScopedOnClient<T, E>(
  client: PgPoolClientLike,
  context: ScopedContext,
  fn: (tx: SqlExecutor) => Promise<Result<T, E>>,
): Promise<Result<T, E | PostgresTenancyError>> {
  let open = false;
  let destroy = false;
  const rollback = async (): Promise<void> => {
    open = false;
    await client.query("ROLLBACK").catch(() => {
      destroy = true;
    });
  };
  try {
    try {
      if (acceptsSubmittable(client)) {
        const begin = new BeginScoped(context.workspaceId, context.readWorkspaces);
        client.query(begin);
        await begin.done;
      } else if (isPipelined(client)) {
        // A pipelined client writes both at once, so this is one round trip too (each with its own
        // Sync: if BEGIN failed, set_config ran alone, transaction-local to itself, and is rolled back).
        await Promise.all([client.query("BEGIN"), client.query(SET_CONTEXT_SQL, [context.workspaceId, context.readWorkspaces])]);
      } else {
        await client.query("BEGIN");
        await client.query(SET_CONTEXT_SQL, [context.workspaceId, context.readWorkspaces]);
      }
    } catch (thrown) {
      await rollback();
      return err(toSqlError(thrown, "withWorkspace: begin"));
    }
    open = true;
    let result: Result<T, E>;
    try {
      result = await fn(guardedExecutor((text, params) => client.query(text, params === undefined ? [] : [...params]), () => open));
      // Anything but a Result (a forgotten return) would otherwise throw below, outside this try, and
      // hand the connection back to the pool with the transaction, and its workspace, still open.
      if (!isResult(result)) throw new TypeError(`withWorkspace: fn must return a Result, got ${typeof result}`);
    } catch (thrown) {
      await rollback();
      return err({ ...toSqlError(thrown, "withWorkspace"), workspaceId: context.workspaceId });
    }
    if (result.isErr()) {
      await rollback();
      return result;
    }
    open = false;
    let committed: unknown;
    try {
      committed = await client.query("COMMIT");
    } catch (thrown) {
      await rollback();
      return err({ ...toSqlError(thrown, "withWorkspace: commit"), workspaceId: context.workspaceId });
    }
    // COMMIT of a transaction an earlier statement aborted (fn caught the error and returned Ok)
    // is answered with the command tag ROLLBACK, not an error: nothing was written.
    const command = commitTagIfNotCommit(committed);
    if (command !== undefined) return err(abortedCommit(context.workspaceId, `COMMIT answered ${command}`));
    return result;
  } finally {
    open = false;
    client.release(destroy);
  }
}

/**
 * The error for a transaction that an SQL error inside `fn` aborted while `fn`
 * still returned Ok (it caught the error): Postgres rolls such a transaction
 * back at COMMIT without raising, so nothing `fn` wrote was kept.
 */
export function abortedCommit(workspaceId: string, detail: string): StoreFailedError {
  return storeFailed(
    `withWorkspace: fn returned Ok, but an SQL error it handled had aborted the transaction, so nothing was committed (${detail}); ` +
      "return the error, or run the statement that may fail inside a savepoint",
    { workspaceId },
  );
}


function isResult(value: unknown): value is Result<unknown, unknown> {
  return typeof value === "object" && value !== null && typeof (value as { isErr?: unknown }).isErr === "function";
}

class Rollback<E> {
  constructor(readonly result: Result<never, E>) {}
}

/**
 * Runs `fn(tx)` in one transaction scoped to `workspaceId`: one connection,
 * BEGIN, `set_config('tenancy.workspace_id', $1, true)` (bound and
 * transaction-local, so nothing outlives the transaction on a pooled or
 * PgBouncer connection), then COMMIT, or ROLLBACK when `fn` returns an Err or
 * throws. Ok only when the COMMIT committed: if `fn` caught an SQL error and
 * returned Ok, the error had aborted the transaction and Postgres rolls it
 * back at COMMIT without raising, so that is a StoreFailed Err (handle such
 * errors inside a savepoint). Never throws; bad ids are an Err before any I/O.
 *
 * Works with a `pg` Pool, a drizzle node-postgres or PGlite database (through
 * its client) and PGlite. For a drizzle `tx` inside `fn`, use
 * `withWorkspace` from `tenancykit/postgres/drizzle`.
 *
 * @example
 * const segments = await withWorkspace(pool, workspaceId, async (tx) =>
 *   ok((await tx.query('select * from "Segment"')).rows));
 */
export async function withWorkspace<T, E>(
  db: PostgresSource,
  workspaceId: string,
  fn: (tx: SqlExecutor) => Promise<Result<T, E>>,
  options: WithWorkspaceOptions = {},
): Promise<Result<T, E | PostgresTenancyError>> {
  const context = scopedContext(workspaceId, options);
  if (context.isErr()) return err(context.error);
  const source = baseSource(db);
  if (source !== undefined && isPgPool(source)) {
    let client: PgPoolClientLike;
    try {
      client = await source.connect();
    } catch (thrown) {
      return err(storeUnavailable(`withWorkspace: connect: ${String(thrown)}`, { cause: thrown, workspaceId: context.value.workspaceId }));
    }
    return runScopedOnClient(client, context.value, fn);
  }
  const sql = source === undefined ? undefined : toSqlClient(source);
  if (sql === undefined) return err(invalidInput("withWorkspace: db is not a pg Pool, drizzle database or PGlite"));
  return runScopedOnSqlClient(sql, context.value, fn);
}

async function runScopedOnSqlClient<T, E>(
  sql: NonNullable<ReturnType<typeof toSqlClient>>,
  context: ScopedContext,
  fn: (tx: SqlExecutor) => Promise<Result<T, E>>,
): Promise<Result<T, E | PostgresTenancyError>> {
  let open = false;
  try {
    return await sql.transaction(async (tx) => {
      await tx.query(SET_CONTEXT_SQL, [context.workspaceId, context.readWorkspaces]);
      open = true;
      // Every statement of fn goes through this executor, so only a failed one can have aborted the transaction.
      let failed = false;
      const run = <R>(text: string, params?: readonly unknown[]): Promise<QueryResultRows<R>> =>
        tx.query<R>(text, params).catch((thrown: unknown) => {
          failed = true;
          throw thrown;
        });
      const result = await fn(guardedExecutor(run, () => open));
      open = false;
      // Throwing is how SqlClient.transaction rolls back; the Err is unwrapped below.
      if (result.isErr()) throw new Rollback<E>(err(result.error));
      // SqlClient.transaction commits out of sight, and COMMIT of an aborted transaction rolls back
      // without an error. After a statement failed (and fn handled it, perhaps in a savepoint), ask
      // the transaction whether it can still commit; a clean one is not asked (no extra round trip).
      if (failed) {
        const aborted = await transactionAborted(() => tx.query("select 1"));
        if (aborted !== undefined) throw new Rollback<PostgresTenancyError>(err(abortedCommit(context.workspaceId, aborted)));
      }
      return result;
    });
  } catch (thrown) {
    open = false;
    if (thrown instanceof Rollback) return thrown.result as Result<never, E | PostgresTenancyError>;
    return err({ ...toSqlError(thrown, "withWorkspace"), workspaceId: context.workspaceId });
  }
}

/**
 * Why the current transaction can no longer commit, or undefined when it can:
 * `probe` runs one trivial statement, which Postgres refuses with 25P02 in an
 * aborted transaction. Any other failure is thrown to the caller as is.
 */
export async function transactionAborted(probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (thrown) {
    if (sqlStateOf(thrown) === IN_FAILED_TRANSACTION || sqlStateOf((thrown as { cause?: unknown } | null)?.cause) === IN_FAILED_TRANSACTION) {
      return "the transaction is aborted (SQLSTATE 25P02)";
    }
    throw thrown;
  }
}
