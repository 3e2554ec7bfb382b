import { err, ok, type Result } from "neverthrow";
import { describeThrown, storeFailed, storeUnavailable, type StoreFailedError, type StoreUnavailableError } from "../errors.js";

export type SqlError = StoreUnavailableError | StoreFailedError;

/** SQLSTATE classes that mean "the server or connection", so a retry may work. */
const RETRYABLE_SQLSTATE = /^(08|53|57P|40001|40P01)/;

/** The SQLSTATE a thrown driver error carries (`code`), if it has one. */
export function sqlStateOf(thrown: unknown): unknown {
  return (thrown as { code?: unknown } | null | undefined)?.code;
}

/**
 * Turns a thrown Postgres error into our error union. Connection failures,
 * shutdowns, serialisation failures and deadlocks are retryable; everything
 * else (constraints, syntax, permissions) is not, and keeps its SQLSTATE.
 */
export function toSqlError(thrown: unknown, what: string): SqlError {
  const code = sqlStateOf(thrown);
  const message = `${what}: ${describeThrown(thrown)}`;
  if (typeof code === "string" && RETRYABLE_SQLSTATE.test(code)) return storeUnavailable(message, { cause: thrown });
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return storeUnavailable(message, { cause: thrown });
  if (typeof code === "string") return storeFailed(`${message} (SQLSTATE ${code})`, { cause: thrown });
  // Client-side failures carry no SQLSTATE: a lost connection or a client timeout
  // ("Query read timeout", "timeout exceeded when trying to connect") may succeed on retry.
  if (/terminat|closed|ECONNREFUSED|ECONNRESET|Connection|timeout/i.test(message)) {
    return storeUnavailable(message, { cause: thrown });
  }
  return storeFailed(message, { cause: thrown });
}

/** Runs an async SQL operation and returns its value or a typed error. */
export async function sqlResult<T>(what: string, run: () => Promise<T>): Promise<Result<T, SqlError>> {
  try {
    return ok(await run());
  } catch (thrown) {
    return err(toSqlError(thrown, what));
  }
}
