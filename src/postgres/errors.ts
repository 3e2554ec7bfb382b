import type { CoreError, TenancyErrorBase } from "../core/errors.js";

/** The connected role would skip every policy (superuser, table owner or BYPASSRLS). */
export interface UnsafeAppRoleError extends TenancyErrorBase<"UnsafeAppRole"> {
  readonly role: string;
  /** Every reason found, e.g. `superuser`, `bypassrls`, `owns "Segment"`. */
  readonly reasons: readonly string[];
}
/** A connection was not granted within the acquisition timeout. */
export type PoolTimeoutError = TenancyErrorBase<"PoolTimeout">;
/** The workspace already has `maxWaitingPerWorkspace` requests queued (backpressure). */
export type PoolQueueFullError = TenancyErrorBase<"PoolQueueFull">;
/** The fair pool was closed. */
export type PoolClosedError = TenancyErrorBase<"PoolClosed">;
/** Ambient code asked for the workspace transaction outside `runInWorkspace`. */
export type NoWorkspaceContextError = TenancyErrorBase<"NoWorkspaceContext">;

/** Every error `tenancykit/postgres` returns. */
export type PostgresTenancyError =
  | CoreError
  | UnsafeAppRoleError
  | PoolTimeoutError
  | PoolQueueFullError
  | PoolClosedError
  | NoWorkspaceContextError;
