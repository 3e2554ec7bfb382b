import type { WorkspaceId } from "./workspace-id.js";

/** A pino-compatible log method: object first, message second (Dittofeed's convention). */
export type LogFn = (obj: object, msg?: string) => void;

/**
 * The part of a pino logger tenancykit uses. Typed structurally so any pino
 * major (or a compatible logger) fits, and `pino` stays an optional peer.
 */
export interface TenancyLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): TenancyLogger;
}

const noop: LogFn = () => undefined;

/** The default when no logger is given: logs nothing, costs nothing. */
export const silentLogger: TenancyLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

/** A child logger that carries `workspaceId` on every line, as pino's `child()` does. */
export function workspaceLogger(logger: TenancyLogger, workspaceId: WorkspaceId): TenancyLogger {
  return logger.child({ workspaceId });
}
