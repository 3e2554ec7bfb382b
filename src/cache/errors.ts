import {
  describeValue,
  tenancyError,
  type InvalidInputError,
  type InvalidWorkspaceIdError,
  type StoreFailedError,
  type StoreUnavailableError,
  type TenancyErrorBase,
} from "../core/errors.js";

/** A key that is not a non-empty string within `maxKeyLength`. */
export type InvalidKeyError = TenancyErrorBase<"InvalidKey">;
/** The size function threw or returned something other than a finite number ≥ 0. */
export type InvalidSizeError = TenancyErrorBase<"InvalidSize">;
/** The value is larger than `maxEntryBytes` or the workspace's cap. */
export type EntryTooLargeError = TenancyErrorBase<"EntryTooLarge">;
/** A loader threw or rejected; nothing was cached. */
export type LoaderFailedError = TenancyErrorBase<"LoaderFailed">;
/** A value could not be serialised for Redis, or a stored value could not be parsed. */
export type SerializationFailedError = TenancyErrorBase<"SerializationFailed">;
/** An acknowledged invalidation was not confirmed by every live node in time. */
export type InvalidationNotAcknowledgedError = TenancyErrorBase<"InvalidationNotAcknowledged"> & {
  readonly missingNodes: readonly string[];
};

/** Every error TenantCache returns. */
export type CacheError =
  | InvalidWorkspaceIdError
  | InvalidInputError
  | InvalidKeyError
  | InvalidSizeError
  | EntryTooLargeError
  | LoaderFailedError
  | SerializationFailedError
  | StoreUnavailableError
  | StoreFailedError
  | InvalidationNotAcknowledgedError;

export function invalidKey(key: unknown, reason: string, workspaceId?: string): InvalidKeyError {
  const shown = typeof key === "string" ? JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key) : typeof key;
  return tenancyError("InvalidKey", `invalid cache key ${shown}: ${reason}`, { workspaceId });
}

/**
 * The per-call `ttlMs` of a set when it is not a finite number ≥ 0 (0: no
 * expiry). NaN or a negative number would otherwise read as "never expires".
 */
export function ttlProblem(ttlMs: unknown, workspaceId: string): InvalidInputError | undefined {
  if (ttlMs === undefined || (typeof ttlMs === "number" && Number.isFinite(ttlMs) && ttlMs >= 0)) return undefined;
  return tenancyError("InvalidInput", `ttlMs must be a finite number ≥ 0 (0: no expiry), got ${describeValue(ttlMs)}`, { workspaceId });
}

export function invalidSize(message: string, workspaceId: string, cause?: unknown): InvalidSizeError {
  return tenancyError("InvalidSize", message, { workspaceId, cause });
}

export function entryTooLarge(size: number, limit: number, workspaceId: string): EntryTooLargeError {
  return tenancyError("EntryTooLarge", `entry of ${size} bytes exceeds the limit of ${limit} bytes`, { workspaceId });
}

export function loaderFailed(message: string, workspaceId: string, cause: unknown): LoaderFailedError {
  return tenancyError("LoaderFailed", message, { workspaceId, cause, retryable: true });
}

export function serializationFailed(message: string, workspaceId: string, cause?: unknown): SerializationFailedError {
  return tenancyError("SerializationFailed", message, { workspaceId, cause });
}
