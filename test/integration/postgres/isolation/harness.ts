import { err, ok } from "neverthrow";
import type pg from "pg";
import type { SqlExecutor } from "../../../../src/core/postgres/sql-client.js";
import { withWorkspace } from "../../../../src/postgres/with-workspace.js";

export type Outcome<T> = { readonly value: T } | { readonly code: string };

/**
 * Runs `fn` in a workspace-scoped transaction as the app role and always rolls
 * back, so every check leaves the seeded data as it was. A SQL error comes
 * back as its SQLSTATE (one error aborts the transaction, so one per call).
 */
export async function inWorkspace<T>(
  pool: pg.Pool,
  workspaceId: string,
  fn: (tx: SqlExecutor) => Promise<T>,
  readWorkspaceIds?: readonly string[],
): Promise<Outcome<T>> {
  const result = await withWorkspace(
    pool,
    workspaceId,
    async (tx) => {
      try {
        return err({ value: await fn(tx) } as Outcome<T>);
      } catch (thrown) {
        return err({ code: String((thrown as { code?: unknown }).code ?? thrown) } as Outcome<T>);
      }
    },
    readWorkspaceIds === undefined ? {} : { readWorkspaceIds },
  );
  if (result.isOk()) throw new Error("unreachable: fn always returns Err");
  const outcome = result.error;
  if (!("value" in outcome) && !("code" in outcome)) throw new Error(`withWorkspace failed: ${JSON.stringify(outcome)}`);
  return outcome as Outcome<T>;
}

/** `withWorkspace` that commits (fn returns Ok). */
export async function committed<T>(pool: pg.Pool, workspaceId: string, fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  const result = await withWorkspace(pool, workspaceId, async (tx) => ok(await fn(tx)));
  if (result.isErr()) throw new Error(JSON.stringify(result.error));
  return result.value;
}

export function valueOf<T>(outcome: Outcome<T>): T | undefined {
  return "value" in outcome ? outcome.value : undefined;
}

export function codeOf(outcome: Outcome<unknown>): string | undefined {
  return "code" in outcome ? outcome.code : undefined;
}

/** A check: `null` when it holds, else what went wrong. */
export interface Check {
  readonly pattern: string;
  readonly run: () => Promise<string | null>;
}

export function expectEqual(label: string, actual: unknown, expected: unknown): string | null {
  return JSON.stringify(actual) === JSON.stringify(expected)
    ? null
    : `${label}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}
