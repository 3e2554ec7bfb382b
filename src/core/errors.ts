/**
 * The error shape shared by every tenancykit module: plain objects
 * discriminated on `type`, so callers `switch (error.type)` exactly as
 * Dittofeed code does with its own error unions. Nothing here is a class:
 * errors cross process boundaries (logs, queues) and must stay serialisable.
 */
export interface TenancyErrorBase<T extends string> {
  readonly type: T;
  readonly message: string;
  /** True when the same call may succeed later (a store was down, a lock was busy). */
  readonly retryable: boolean;
  readonly workspaceId?: string;
  readonly cause?: unknown;
}

/** A workspace id that is not a UUID string. */
export type InvalidWorkspaceIdError = TenancyErrorBase<"InvalidWorkspaceId">;
/** Caller input that fails validation (costs, keys, payloads, options given per call). */
export type InvalidInputError = TenancyErrorBase<"InvalidInput">;
/** Redis or Postgres could not be reached, or did not answer within the timeout. */
export type StoreUnavailableError = TenancyErrorBase<"StoreUnavailable">;
/** The store answered with an error that retrying will not fix (a bad script, a constraint). */
export type StoreFailedError = TenancyErrorBase<"StoreFailed">;
/** One or more `TENANCY_*` variables are invalid; `problems` lists every one. */
export interface ConfigError extends TenancyErrorBase<"InvalidConfig"> {
  readonly problems: readonly ConfigProblem[];
}
export interface ConfigProblem {
  readonly variable: string;
  readonly reason: string;
}

/** The errors `core` itself produces; each module extends this union with its own. */
export type CoreError =
  | InvalidWorkspaceIdError
  | InvalidInputError
  | StoreUnavailableError
  | StoreFailedError
  | ConfigError;

interface ErrorDetails {
  readonly retryable?: boolean;
  readonly workspaceId?: string | undefined;
  readonly cause?: unknown;
}

/**
 * Builds an error object of any module's union. Optional fields are only set
 * when present, which keeps `exactOptionalPropertyTypes` callers happy and the
 * logged objects small.
 */
export function tenancyError<T extends string>(
  type: T,
  message: string,
  details: ErrorDetails = {},
): TenancyErrorBase<T> {
  const error: {
    type: T;
    message: string;
    retryable: boolean;
    workspaceId?: string;
    cause?: unknown;
  } = { type, message, retryable: details.retryable ?? false };
  if (details.workspaceId !== undefined) error.workspaceId = details.workspaceId;
  if (details.cause !== undefined) error.cause = details.cause;
  return error;
}

export function invalidInput(message: string, details: ErrorDetails = {}): InvalidInputError {
  return tenancyError("InvalidInput", message, details);
}

export function storeUnavailable(message: string, details: ErrorDetails = {}): StoreUnavailableError {
  return tenancyError("StoreUnavailable", message, { retryable: true, ...details });
}

export function storeFailed(message: string, details: ErrorDetails = {}): StoreFailedError {
  return tenancyError("StoreFailed", message, details);
}

/**
 * A caller's value as shown in an error message; never throws. Primitives are
 * shown as `String` shows them; objects only by kind, because `String(object)`
 * runs the object's own toString/valueOf (which may throw) and throws outright
 * for an object without a prototype (`Object.create(null)`).
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return Array.isArray(value) ? "an array" : "an object";
  return String(value);
}

/** A caller's value in a message: a string quoted (JSON), anything else as `describeValue` shows it. */
export function quotedValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : describeValue(value);
}

/** A readable one-line description of anything thrown, for error messages. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}

/** The `InvalidConfig` error listing every problem (loadConfig's, and createTenancy's). */
export function configError(problems: readonly ConfigProblem[]): ConfigError {
  return {
    type: "InvalidConfig",
    message: `invalid tenancy configuration: ${problems.map((p) => `${p.variable} ${p.reason}`).join("; ")}`,
    retryable: false,
    problems,
  };
}
