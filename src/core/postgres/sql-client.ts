/**
 * One narrow SQL interface over the three ways a Postgres reaches us: a `pg`
 * Pool, a drizzle node-postgres (or PGlite) database, and a PGlite instance
 * (the embedded default). Typed structurally so neither `pg`, drizzle nor
 * PGlite is loaded unless the user passes one.
 */
export interface QueryResultRows<R> {
  readonly rows: R[];
  readonly rowCount?: number | null;
}

export interface SqlExecutor {
  /** One parameterised statement ($1, $2, …). */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResultRows<R>>;
}

export interface SqlClient extends SqlExecutor {
  readonly kind: "pg" | "pglite";
  /** Several statements without parameters (migrations, DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` inside BEGIN … COMMIT on one connection; ROLLBACK when it throws.
   * The executor passed to `fn` must not escape it.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** The parts of `pg.Pool` used here. */
export interface PgPoolLike {
  connect(): Promise<PgPoolClientLike>;
  query(text: string, params?: unknown[]): Promise<QueryResultRows<never>>;
  readonly totalCount: number;
}
export interface PgPoolClientLike {
  query(text: string, params?: unknown[]): Promise<QueryResultRows<never>>;
  release(destroy?: boolean | Error): void;
}

/** The parts of PGlite used here. */
export interface PGliteLike {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(fn: (tx: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }> }) => Promise<T>): Promise<T>;
  readonly waitReady: Promise<void>;
}

/**
 * A drizzle database. `drizzle(client)` declares the Pool or PGlite it was
 * built on as `$client`; drizzle's own database types (`NodePgDatabase<Schema>`,
 * which is how Dittofeed types its `db()`) leave it out, although drizzle-orm
 * sets it at run time since 0.33. So a database typed either way is accepted
 * (the second by drizzle's `_.session`), and `$client` is looked up when it is used.
 */
export type DrizzleLike = { readonly $client: PgPoolLike | PGliteLike } | { readonly _: { readonly session: object } };

export type PostgresSource = PgPoolLike | PGliteLike | DrizzleLike | SqlClient;

function isSqlClient(source: object): source is SqlClient {
  return "kind" in source && (source.kind === "pg" || source.kind === "pglite") && "exec" in source;
}

function isPGlite(source: object): source is PGliteLike {
  return "waitReady" in source && "exec" in source && "transaction" in source;
}

/** True for a `pg.Pool` (or anything with its `connect` and `totalCount`). */
export function isPgPool(source: object): source is PgPoolLike {
  return "connect" in source && "totalCount" in source;
}

/**
 * Adapts whatever the user passed into a `SqlClient`. Returns undefined for
 * an unrecognised object so callers can report it in their own error type.
 */
export function toSqlClient(source: PostgresSource): SqlClient | undefined {
  const base = baseSource(source);
  if (base === undefined || isSqlClient(base)) return base;
  return isPGlite(base) ? fromPGlite(base) : fromPgPool(base);
}

/**
 * The source without its drizzle wrapper: a drizzle database's `$client` (read
 * at run time, whatever the database's declared type), else the source itself;
 * undefined when it is none of a Pool, PGlite or SqlClient.
 */
export function baseSource(source: PostgresSource): SqlClient | PGliteLike | PgPoolLike | undefined {
  if (typeof source !== "object" || source === null) return undefined;
  const base: unknown = "$client" in source ? source.$client : source;
  if (typeof base !== "object" || base === null) return undefined;
  return isSqlClient(base) || isPGlite(base) || isPgPool(base) ? base : undefined;
}

/** SQLSTATE 25P02, in_failed_sql_transaction: what Postgres and PGlite report for an aborted transaction. */
export const IN_FAILED_TRANSACTION = "25P02";

/**
 * The command tag a COMMIT was answered with when it is not COMMIT (Postgres
 * answers ROLLBACK for a transaction an earlier statement aborted), else undefined.
 */
export function commitTagIfNotCommit(result: unknown): string | undefined {
  const command = (result as { command?: unknown } | undefined)?.command;
  return command !== undefined && command !== "COMMIT" ? String(command) : undefined;
}

/**
 * Thrown by a `SqlClient.transaction` whose COMMIT Postgres answered with
 * ROLLBACK: a statement `fn` ran failed, `fn` caught the error and returned,
 * and the aborted transaction wrote nothing. It carries SQLSTATE 25P02
 * (in_failed_sql_transaction), as PGlite's own error for this case does, so
 * `toSqlError` makes it a non-retryable StoreFailed.
 */
export class CommitRolledBackError extends Error {
  readonly code = IN_FAILED_TRANSACTION;
  constructor(command: string) {
    super(
      `COMMIT answered ${command}: an SQL error earlier in the transaction aborted it, so nothing was committed ` +
        "(an error the transaction's function caught still aborts it; use a savepoint to recover from one)",
    );
    this.name = "CommitRolledBackError";
  }
}

function fromPgPool(pool: PgPoolLike): SqlClient {
  return {
    kind: "pg",
    query: <R>(text: string, params: readonly unknown[] = []) =>
      pool.query(text, [...params]) as Promise<QueryResultRows<R>>,
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: async (fn) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      let result: Awaited<ReturnType<typeof fn>>;
      let committed: unknown;
      try {
        await client.query("BEGIN");
        const executor: SqlExecutor = {
          query: <R>(text: string, params: readonly unknown[] = []) =>
            client.query(text, [...params]) as Promise<QueryResultRows<R>>,
        };
        result = await fn(executor);
        committed = await client.query("COMMIT");
      } catch (thrown) {
        // A failed ROLLBACK means the connection is unusable: destroy it rather than
        // return a connection in an unknown transaction state to the pool.
        await client.query("ROLLBACK").catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw thrown;
      } finally {
        client.release(broken ?? false);
      }
      // Postgres answers the COMMIT of a transaction an earlier statement aborted (fn caught
      // the error) with the tag ROLLBACK, not an error: nothing was written. The transaction
      // has ended either way, so there is nothing to roll back here.
      const command = commitTagIfNotCommit(committed);
      if (command !== undefined) throw new CommitRolledBackError(command);
      return result;
    },
  };
}

function fromPGlite(db: PGliteLike): SqlClient {
  const normalise = <R>(result: { rows: R[]; affectedRows?: number }): QueryResultRows<R> => ({
    rows: result.rows,
    rowCount: result.affectedRows ?? result.rows.length,
  });
  return {
    kind: "pglite",
    query: async <R>(text: string, params: readonly unknown[] = []) => normalise(await db.query<R>(text, [...params])),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: async <R>(text: string, params: readonly unknown[] = []) =>
            normalise(await tx.query<R>(text, [...params])),
        }),
      ),
  };
}
