import { READ_WORKSPACES_SETTING, WORKSPACE_SETTING } from "./policy.js";

/** Sets both settings for the rest of the transaction, as bound parameters (never interpolated). */
export const SET_CONTEXT_SQL =
  `select set_config('${WORKSPACE_SETTING}', $1, true), set_config('${READ_WORKSPACES_SETTING}', $2, true)`;

/** The parts of node-postgres' connection a Submittable writes to. */
interface PgConnection {
  parse(query: { text: string }): void;
  bind(config: { values: readonly (string | null)[] }): void;
  execute(config: Record<string, never>): void;
  sync(): void;
  readonly stream: { cork?: () => void; uncork?: () => void };
}

/** A node-postgres client that accepts Submittables (every pg 8 `Client` outside pipeline mode). */
export interface SubmittableClient {
  query(submittable: BeginScoped): unknown;
  readonly connection: object;
}

/**
 * True for a node-postgres client that runs a Submittable. A client in
 * pipeline mode (`new Pool({ pipeline: true })`, pg 8.23+) refuses every
 * custom query class ("not supported in pipeline mode"), so it is false there
 * and the caller sends BEGIN and set_config as two plain queries.
 */
export function acceptsSubmittable(client: object): client is SubmittableClient {
  return "connection" in client && typeof (client as { connection: unknown }).connection === "object" && !isPipelined(client);
}

/** A node-postgres client in pipeline mode: queries are written without waiting for earlier replies. */
export function isPipelined(client: object): boolean {
  return (client as { pipeline?: unknown }).pipeline === true;
}

/**
 * BEGIN plus the bound set_config in one round trip: a node-postgres
 * Submittable that writes both statements with the extended protocol and one
 * Sync. The workspace id still travels as a bind parameter. Postgres runs the
 * two in order; if set_config fails the transaction is aborted and the caller
 * rolls back. Saves one round trip per `withWorkspace` against two awaits.
 *
 * It settles through `callback`, exactly once: node-postgres (with
 * `query_timeout` set) wraps the callback of every query it is given and
 * clears its read-timeout timer only when that wrapper runs. A Submittable
 * that never called it left one timer per transaction, and before pg 8.19
 * (brianc/node-postgres#3589) that timer then called an undefined callback:
 * an uncaught TypeError. Having a callback of our own from the start also
 * means pg < 8.19 wraps a function, not `undefined`.
 */
export class BeginScoped {
  readonly done: Promise<void>;
  /**
   * Settles `done`. pg may replace it with a wrapper that clears its timer and
   * then calls this one; on a read timeout pg calls this one itself (and then
   * `handleError`, which finds the wrapper replaced by a no-op).
   */
  callback: (error?: unknown) => void;
  #finished = false;
  readonly #values: readonly (string | null)[];

  constructor(workspaceId: string, readWorkspaces: string | null) {
    this.#values = [workspaceId, readWorkspaces];
    let settle!: (error?: unknown) => void;
    this.done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined || error === null ? resolve() : reject(error));
    });
    this.callback = settle;
  }

  submit(connection: PgConnection): null {
    connection.stream.cork?.();
    try {
      connection.parse({ text: "BEGIN" });
      connection.bind({ values: [] });
      connection.execute({});
      connection.parse({ text: SET_CONTEXT_SQL });
      connection.bind({ values: this.#values });
      connection.execute({});
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  // Result messages carry nothing we need; only success or the first error matters.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}

  handleError(error: unknown): void {
    // node-postgres drops the active query on an ErrorResponse, so no ReadyForQuery
    // reaches us after one; a dead connection sends none either. Settle now.
    this.#finish(error ?? new Error("BeginScoped: failed without an error"));
  }

  handleReadyForQuery(): void {
    this.#finish(undefined);
  }

  /** Calls `callback` (pg's wrapper, if any, so its timer is cleared) once; later calls do nothing. */
  #finish(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.callback(error);
  }
}
