/**
 * tenancykit/postgres/drizzle: the drizzle-orm flavour of the Postgres
 * helpers. The only entry of this module that loads drizzle-orm at runtime.
 */
import { err, type Result } from "neverthrow";
import { sql, type SQL } from "drizzle-orm";
import { getTableConfig, pgPolicy, type PgPolicy, type PgPolicyToOption, type PgTable } from "drizzle-orm/pg-core";
import { toSqlError } from "../core/postgres/result.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import { AmbientWorkspace } from "./ambient.js";
import type { NoWorkspaceContextError, PostgresTenancyError } from "./errors.js";
import { detectWorkspaceColumn, type TenantTable } from "./identifiers.js";
import { policySpecs, type PolicyOptions } from "./policy.js";
import { SET_CONTEXT_SQL } from "./begin-scoped.js";
import { abortedCommit, scopedContext, transactionAborted, type WithWorkspaceOptions } from "./with-workspace.js";

export interface DrizzlePolicyOptions extends PolicyOptions {
  /** @default "public" */
  readonly to?: PgPolicyToOption;
}

/**
 * drizzle `pgPolicy` definitions for one tenant table: one per command, plus
 * the explicit parent read grant. Put them in the table's extra config; drizzle
 * then enables RLS, but cannot FORCE it, and they never reach the table's
 * partitions: also apply `policyMigrationSql` in a custom migration.
 *
 * @example
 * export const segment = pgTable("Segment", { ... }, (t) => [uniqueIndex(...).on(t.workspaceId, t.name), ...workspacePolicies("workspaceId")]);
 */
export function workspacePolicies(column = "workspace_id", options: DrizzlePolicyOptions = {}): PgPolicy[] {
  return policySpecs(column, options).map((spec) =>
    pgPolicy(spec.name, {
      as: "permissive",
      for: spec.command,
      to: options.to ?? "public",
      // The expressions are our own constants plus a quoted identifier; no user data reaches sql.raw.
      ...(spec.using === undefined ? {} : { using: sql.raw(spec.using) }),
      ...(spec.withCheck === undefined ? {} : { withCheck: sql.raw(spec.withCheck) }),
    }),
  );
}

/** The tenant tables among drizzle table definitions (those with the workspace column). */
export function tenantTablesFromDrizzle(tables: Record<string, unknown>, column?: string): TenantTable[] {
  const out: TenantTable[] = [];
  for (const value of Object.values(tables)) {
    if (!isPgTable(value)) continue;
    const config = getTableConfig(value);
    const found = detectWorkspaceColumn(config.columns.map((c) => c.name), column);
    if (found !== undefined) out.push({ name: config.name, schema: config.schema ?? "public", column: found });
  }
  return out;
}

function isPgTable(value: unknown): value is PgTable {
  if (typeof value !== "object" || value === null) return false;
  try {
    getTableConfig(value as PgTable);
    return true;
  } catch {
    return false;
  }
}

/** A drizzle database (node-postgres or PGlite) that can open transactions. */
export interface DrizzleTransactional<Tx> {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}
/** A drizzle transaction: it can run raw SQL. */
export interface DrizzleExecutor {
  execute(query: SQL): PromiseLike<unknown>;
}

/**
 * Why drizzle's transaction can no longer commit, or undefined. On node-postgres
 * versions with `getTransactionStatus()` the connection already knows, at no
 * cost: the status byte of the last ReadyForQuery (E: a failed transaction).
 * It is only current when no reply is outstanding (`readyForQuery`): a failed
 * query rejects on the ErrorResponse, before the ReadyForQuery behind it is
 * read. Otherwise one trivial statement asks the server (refused with 25P02 in
 * an aborted transaction).
 */
async function abortedReason(tx: DrizzleExecutor): Promise<string | undefined> {
  const client = (tx as { session?: { client?: { getTransactionStatus?: unknown; readyForQuery?: unknown } } }).session?.client;
  if (typeof client?.getTransactionStatus === "function" && client.readyForQuery === true) {
    const status: unknown = client.getTransactionStatus.call(client);
    if (status === "E") return "the transaction is aborted (ReadyForQuery status E)";
    if (status === "T") return undefined;
  }
  return transactionAborted(() => Promise.resolve(tx.execute(sql`select 1`)));
}

class Rollback<E> {
  constructor(readonly result: Result<never, E>) {}
}

/**
 * `withWorkspace` with a drizzle `tx` inside `fn`: drizzle's transaction,
 * then the bound, transaction-local `set_config` before `fn`; commits on Ok,
 * rolls back on Err or throw, never throws. An Ok from an `fn` that caught an
 * SQL error which aborted the transaction is a StoreFailed Err (nothing would
 * be committed); an error caught inside a nested `tx.transaction` is fine.
 *
 * @example
 * const result = await withWorkspace(db(), workspaceId, async (tx) =>
 *   ok(await tx.select().from(segment)));
 */
export async function withWorkspace<Tx extends DrizzleExecutor, T, E>(
  db: DrizzleTransactional<Tx>,
  workspaceId: string,
  fn: (tx: Tx) => Promise<Result<T, E>>,
  options: WithWorkspaceOptions = {},
): Promise<Result<T, E | PostgresTenancyError>> {
  const context = scopedContext(workspaceId, options);
  if (context.isErr()) return err(context.error);
  const { workspaceId: id, readWorkspaces } = context.value;
  try {
    return await db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('tenancy.workspace_id', ${id}, true), set_config('tenancy.workspace_ids', ${readWorkspaces}, true)`);
      const result = await fn(tx);
      if (result.isErr()) throw new Rollback<E>(err(result.error));
      // drizzle commits out of sight, and COMMIT of a transaction that an error fn caught had
      // aborted rolls back without an error: refuse to report that as committed.
      const aborted = await abortedReason(tx);
      if (aborted !== undefined) throw new Rollback<PostgresTenancyError>(err(abortedCommit(id, aborted)));
      return result;
    });
  } catch (thrown) {
    if (thrown instanceof Rollback) return thrown.result as Result<never, E | PostgresTenancyError>;
    return err({ ...toSqlError(thrown, "withWorkspace"), workspaceId: id });
  }
}

/**
 * An ambient scope for drizzle code that cannot thread `tx`: `run` opens a
 * workspace transaction and makes its `tx` available to everything it calls
 * through `tx()`, which is an Err outside any `run`.
 */
export function workspaceScope<Tx extends DrizzleExecutor>(db: DrizzleTransactional<Tx>) {
  const ambient = new AmbientWorkspace<Tx>();
  return {
    run<T, E>(workspaceId: string, fn: () => Promise<Result<T, E>>, options: WithWorkspaceOptions = {}) {
      return withWorkspace(db, workspaceId, (tx) => ambient.enter(workspaceId.toLowerCase() as WorkspaceId, tx, fn), options);
    },
    tx(): Result<Tx, NoWorkspaceContextError> {
      return ambient.current();
    },
    workspaceId(): WorkspaceId | undefined {
      return ambient.workspaceId();
    },
  };
}

/** The statement `withWorkspace` runs, for code that opens its own drizzle transaction. */
export const SET_WORKSPACE_CONTEXT_SQL = SET_CONTEXT_SQL;
export { policyMigrationSql, tablePolicyStatements } from "./migration.js";
