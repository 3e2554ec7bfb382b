import { AsyncLocalStorage } from "node:async_hooks";
import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { PostgresSource, SqlExecutor } from "../core/postgres/sql-client.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import type { NoWorkspaceContextError, PostgresTenancyError } from "./errors.js";
import { withWorkspace, type WithWorkspaceOptions } from "./with-workspace.js";

interface AmbientScope<Tx> {
  readonly workspaceId: WorkspaceId;
  readonly tx: Tx;
}

/**
 * An AsyncLocalStorage slot for the current workspace transaction, for code
 * that cannot thread `tx` through (Dittofeed's ~270 `db()` call sites): the
 * request handler opens the scope once, and deep code asks for `current()`.
 * Outside a scope `current()` is an Err, never a silent unscoped connection.
 */
export class AmbientWorkspace<Tx> {
  readonly #storage = new AsyncLocalStorage<AmbientScope<Tx>>();

  /** Runs `fn` with `tx` as the ambient transaction of `workspaceId`. */
  enter<T>(workspaceId: WorkspaceId, tx: Tx, fn: () => Promise<T>): Promise<T> {
    return this.#storage.run({ workspaceId, tx }, fn);
  }

  /** The ambient transaction, or an Err outside any scope. */
  current(): Result<Tx, NoWorkspaceContextError> {
    const scope = this.#storage.getStore();
    if (scope === undefined) {
      return err(tenancyError("NoWorkspaceContext", "no workspace transaction in scope; wrap the caller in runInWorkspace"));
    }
    return ok(scope.tx);
  }

  /** The ambient workspace id, if any. */
  workspaceId(): WorkspaceId | undefined {
    return this.#storage.getStore()?.workspaceId;
  }
}

/** The ambient slot used by `runInWorkspace` / `currentWorkspaceTx`. */
export const ambientWorkspace = new AmbientWorkspace<SqlExecutor>();

/**
 * `withWorkspace`, with the transaction also made ambient for everything
 * `fn` calls (awaits included), so deep code can use `currentWorkspaceTx()`.
 *
 * @example
 * app.addHook("preHandler", ...); // then in a route:
 * return runInWorkspace(pool, workspaceId, () => listSegments());
 * // where listSegments() does: const tx = currentWorkspaceTx(); if (tx.isErr()) return err(tx.error); ...
 */
export function runInWorkspace<T, E>(
  db: PostgresSource,
  workspaceId: string,
  fn: () => Promise<Result<T, E>>,
  options: WithWorkspaceOptions = {},
): Promise<Result<T, E | PostgresTenancyError>> {
  const id = parseWorkspaceId(workspaceId);
  // A bad id makes withWorkspace return its Err before fn runs; the cast is never observed.
  const scoped = id.isOk() ? id.value : (workspaceId as WorkspaceId);
  return withWorkspace(db, workspaceId, (tx) => ambientWorkspace.enter(scoped, tx, fn), options);
}

/** The transaction opened by the nearest `runInWorkspace`, or an Err outside one. */
export function currentWorkspaceTx(): Result<SqlExecutor, NoWorkspaceContextError> {
  return ambientWorkspace.current();
}

/** The workspace of the nearest `runInWorkspace`, if any. */
export function currentWorkspaceId(): WorkspaceId | undefined {
  return ambientWorkspace.workspaceId();
}

export type { PostgresTenancyError };
