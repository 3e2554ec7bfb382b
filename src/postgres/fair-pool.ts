import { err, ok, type Result } from "neverthrow";
import { describeValue, invalidInput, storeUnavailable, tenancyError } from "../core/errors.js";
import type { PgPoolClientLike, PgPoolLike, SqlExecutor } from "../core/postgres/sql-client.js";
import { parseWorkspaceId } from "../core/workspace-id.js";
import type { PostgresTenancyError } from "./errors.js";
import { FairScheduler, type Permit, type WorkspacePoolMetrics } from "./fair-scheduler.js";
import { runScopedOnClient, scopedContext, type WithWorkspaceOptions } from "./with-workspace.js";

/** The parts of `pg.Pool` the fair pool reads. */
export interface FairPoolSource extends PgPoolLike {
  readonly idleCount?: number;
  readonly waitingCount?: number;
}

export interface FairPoolOptions {
  /** Connections the fair pool hands out at once; keep it ≤ the pg Pool's `max`. */
  readonly size: number;
  /** Connections one workspace may hold at once. @default max(2, ceil(size / 4)) */
  readonly maxPerWorkspace?: number;
  /** How long `acquire` waits, queue and connect together. @default 5000 */
  readonly acquireTimeoutMs?: number;
  /** Queued requests per workspace before `PoolQueueFull`. @default 1000 */
  readonly maxWaitingPerWorkspace?: number;
  /** Idle workspaces whose statistics are kept. @default 10000 */
  readonly maxTrackedWorkspaces?: number;
  readonly now?: () => number;
}

/** A connection held for one workspace; `release()` exactly once (later calls are ignored). */
export interface FairConnection {
  readonly client: PgPoolClientLike;
  readonly workspaceId: string;
  release(destroy?: boolean): void;
}

export interface FairPoolMetrics {
  readonly size: number;
  readonly free: number;
  /** From the pg Pool, when it exposes them. */
  readonly total: number;
  readonly idle: number | undefined;
  readonly workspaces: ReadonlyMap<string, WorkspacePoolMetrics>;
}

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Why `value` is no timeout in ms (a positive integer a timer can hold), if it is not. */
function timeoutProblem(name: string, value: unknown): string | undefined {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_TIMER_MS
    ? undefined
    : `${name} must be an integer from 1 to ${MAX_TIMER_MS}, got ${describeValue(value)}`;
}

function validate(options: FairPoolOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError(`FairPool: options must be an object, got ${describeValue(options)}`);
  const problems: string[] = [];
  const positive = (name: string, value: unknown) => {
    if (value !== undefined && !(typeof value === "number" && Number.isInteger(value) && value >= 1)) {
      problems.push(`${name} must be a positive integer, got ${describeValue(value)}`);
    }
  };
  if (options.size === undefined) problems.push("size is required");
  positive("size", options.size);
  positive("maxPerWorkspace", options.maxPerWorkspace);
  if (options.acquireTimeoutMs !== undefined) {
    const problem = timeoutProblem("acquireTimeoutMs", options.acquireTimeoutMs);
    if (problem !== undefined) problems.push(problem);
  }
  positive("maxWaitingPerWorkspace", options.maxWaitingPerWorkspace);
  positive("maxTrackedWorkspaces", options.maxTrackedWorkspaces);
  if (problems.length > 0) throw new TypeError(`FairPool: ${problems.join("; ")}`);
}

/**
 * A per-workspace fair front for a `pg.Pool`: at most `maxPerWorkspace`
 * connections per workspace, free connections handed round-robin across the
 * workspaces waiting, per-workspace metrics, and acquisition timeouts that
 * never strand a connection (a connect that finishes after its caller gave
 * up is released straight back to the pool).
 *
 * @example
 * const fair = new FairPool(pool, { size: 10, maxPerWorkspace: 3, acquireTimeoutMs: 2000 });
 * const rows = await fair.withWorkspace(workspaceId, async (tx) => ok((await tx.query('select * from "Segment"')).rows));
 */
export class FairPool {
  readonly #pool: FairPoolSource;
  readonly #scheduler: FairScheduler;
  readonly #timeoutMs: number;
  readonly #size: number;
  readonly #now: () => number;

  constructor(pool: FairPoolSource, options: FairPoolOptions) {
    validate(options);
    this.#pool = pool;
    this.#size = options.size;
    this.#timeoutMs = options.acquireTimeoutMs ?? 5000;
    this.#now = options.now ?? (() => performance.now());
    this.#scheduler = new FairScheduler({
      size: options.size,
      maxPerWorkspace: options.maxPerWorkspace ?? Math.max(2, Math.ceil(options.size / 4)),
      maxWaitingPerWorkspace: options.maxWaitingPerWorkspace ?? 1000,
      maxTrackedWorkspaces: options.maxTrackedWorkspaces ?? 10_000,
      now: this.#now,
    });
  }

  /** Waits fairly for a connection for `workspaceId`. */
  async acquire(workspaceId: string, options: { timeoutMs?: number } = {}): Promise<Result<FairConnection, PostgresTenancyError>> {
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    if (typeof options !== "object" || options === null) return err(invalidInput("FairPool.acquire: options must be an object", { workspaceId: id.value }));
    // null is no timeout either (not "the default"): only undefined is.
    const timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : options.timeoutMs;
    const problem = timeoutProblem("timeoutMs", timeoutMs);
    if (problem !== undefined) return err(invalidInput(`FairPool.acquire: ${problem}`, { workspaceId: id.value }));
    const started = this.#now();
    const permit = await this.#scheduler.acquire(id.value, timeoutMs);
    if (permit.isErr()) return err(permit.error);
    return this.#connect(permit.value, Math.max(1, timeoutMs - (this.#now() - started)));
  }

  /** `acquire`, run `fn(client)`, release (destroying the connection if `fn` threw). */
  async withConnection<T, E>(
    workspaceId: string,
    fn: (client: PgPoolClientLike) => Promise<Result<T, E>>,
  ): Promise<Result<T, E | PostgresTenancyError>> {
    const connection = await this.acquire(workspaceId);
    if (connection.isErr()) return err(connection.error);
    try {
      const result = await fn(connection.value.client);
      connection.value.release();
      return result;
    } catch (thrown) {
      connection.value.release(true);
      return err(storeUnavailable(`FairPool.withConnection: ${String(thrown)}`, { cause: thrown, workspaceId }));
    }
  }

  /** A workspace-scoped transaction (see `withWorkspace`) on a fairly acquired connection. */
  async withWorkspace<T, E>(
    workspaceId: string,
    fn: (tx: SqlExecutor) => Promise<Result<T, E>>,
    options: WithWorkspaceOptions = {},
  ): Promise<Result<T, E | PostgresTenancyError>> {
    const context = scopedContext(workspaceId, options);
    if (context.isErr()) return err(context.error);
    const connection = await this.acquire(context.value.workspaceId);
    if (connection.isErr()) return err(connection.error);
    const { client, release } = connection.value;
    // runScopedOnClient releases the client itself; give the permit back afterwards.
    const wrapped: PgPoolClientLike = { query: (text, params) => client.query(text, params), release: (destroy) => release(destroy === true || destroy instanceof Error) };
    // What runScopedOnClient reads to choose how to send BEGIN: the connection, and whether it is pipelined.
    Object.defineProperties(wrapped, {
      connection: { value: (client as { connection?: unknown }).connection, enumerable: false },
      pipeline: { value: (client as { pipeline?: unknown }).pipeline, enumerable: false },
    });
    return runScopedOnClient(wrapped, context.value, fn);
  }

  metrics(): FairPoolMetrics {
    return {
      size: this.#size,
      free: this.#scheduler.free,
      total: this.#pool.totalCount,
      idle: this.#pool.idleCount,
      workspaces: this.#scheduler.metrics(),
    };
  }

  /** Fails queued requests and refuses new ones; the pg Pool stays the caller's to end. */
  close(): void {
    this.#scheduler.close();
  }

  async #connect(permit: Permit, remainingMs: number): Promise<Result<FairConnection, PostgresTenancyError>> {
    const workspaceId = permit.workspaceId;
    let gaveUp = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connecting = this.#pool.connect();
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), remainingMs);
    });
    try {
      const winner = await Promise.race([connecting, timeout]);
      if (winner === "timeout") {
        gaveUp = true;
        this.#scheduler.release(permit);
        // The connect may still finish: hand that connection straight back so it never becomes a zombie.
        connecting.then((late) => late.release(), () => undefined);
        return err(tenancyError("PoolTimeout", `connect took over ${remainingMs.toFixed(0)} ms`, { workspaceId, retryable: true }));
      }
      return ok(this.#wrap(winner, permit));
    } catch (thrown) {
      if (!gaveUp) this.#scheduler.release(permit);
      return err(storeUnavailable(`FairPool: connect failed: ${String(thrown)}`, { cause: thrown, workspaceId }));
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  #wrap(client: PgPoolClientLike, permit: Permit): FairConnection {
    let released = false;
    return {
      client,
      workspaceId: permit.workspaceId,
      release: (destroy = false) => {
        if (released) return;
        released = true;
        client.release(destroy);
        this.#scheduler.release(permit);
      },
    };
  }
}
