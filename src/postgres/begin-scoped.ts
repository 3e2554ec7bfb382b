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

/** A node-postgres client that accepts Submittables (every pg 8 `Client`). */
export interface SubmittableClient {
  query(submittable: BeginScoped): unknown;
  readonly connection: object;
}

export function acceptsSubmittable(client: object): client is SubmittableClient {
  return "connection" in client && typeof (client as { connection: unknown }).connection === "object";
}

/**
 * BEGIN plus the bound set_config in one round trip: a node-postgres
 * Submittable that writes both statements with the extended protocol and one
 * Sync. The workspace id still travels as a bind parameter. Postgres runs the
 * two in order; if set_config fails the transaction is aborted and the caller
 * rolls back. Saves one round trip per `withWorkspace` against two awaits.
 */
export class BeginScoped {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  #error: unknown;
  readonly #values: readonly (string | null)[];

  constructor(workspaceId: string, readWorkspaces: string | null) {
    this.#values = [workspaceId, readWorkspaces];
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
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
    // Postgres skips to the Sync after an error and still sends ReadyForQuery,
    // except when the connection itself died; settle now in both cases.
    this.#error ??= error;
    this.#reject(error);
  }

  handleReadyForQuery(): void {
    if (this.#error === undefined) this.#resolve();
    else this.#reject(this.#error);
  }
}
