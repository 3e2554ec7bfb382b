import { err, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import type { PreparedEvent } from "./event.js";
import type { AuditStore, BatchOutcome } from "./store.js";

/** Group-commit tuning. */
export interface BatchOptions {
  /** Flush as soon as this many events wait. @default 500 */
  readonly maxRows: number;
  /** Otherwise flush this long after the first waiting event. @default 2 */
  readonly lingerMs: number;
  /**
   * Batches committing at once. 1 is best when batches share workspaces (a
   * second batch would only wait on the first's head locks, with half the
   * rows); raise it when traffic spreads over many disjoint workspaces. @default 1
   */
  readonly maxInFlight: number;
  /**
   * Independent commit lanes; a workspace always uses the same lane, so lanes
   * never wait on each other's head locks and their transactions (and fsyncs,
   * which Postgres groups) overlap. Needs that many pool connections. @default 1
   */
  readonly lanes: number;
}

export const DEFAULT_BATCH: BatchOptions = { maxRows: 500, lingerMs: 2, maxInFlight: 1, lanes: 1 };

/** The lane of a workspace: the last 8 hex digits of its (normalised) UUID, modulo the lane count. */
export function laneOf(workspaceId: string, lanes: number): number {
  return lanes === 1 ? 0 : Number.parseInt(workspaceId.slice(-8), 16) % lanes;
}

interface Waiting {
  readonly event: PreparedEvent;
  readonly resolve: (result: Result<BatchOutcome, SqlError>) => void;
}

/**
 * Group commit: events wait a few milliseconds (or until `maxRows` wait) and
 * are written in one transaction; every caller's promise resolves only after
 * that transaction committed, with its own outcome. A failed batch fails
 * every event in it (none was written: the transaction rolled back).
 */
export class GroupCommitter {
  #waiting: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(
    private readonly store: AuditStore,
    private readonly options: BatchOptions,
    private readonly now: () => number,
    private readonly committed: (events: readonly PreparedEvent[], outcomes: readonly BatchOutcome[]) => void,
  ) {}

  submit(event: PreparedEvent): Promise<Result<BatchOutcome, SqlError>> {
    return new Promise((resolve) => {
      this.#waiting.push({ event, resolve });
      if (this.#waiting.length >= this.options.maxRows) this.#flush();
      // While a batch commits, the next one fills up; its completion flushes it (no linger needed).
      else if (this.#inFlight >= this.options.maxInFlight) return;
      else if (this.#timer === undefined) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#flush();
        }, this.options.lingerMs);
      }
    });
  }

  #flush(): void {
    if (this.#waiting.length === 0) return;
    if (this.#inFlight >= this.options.maxInFlight) return; // resumed when a batch finishes
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#waiting.splice(0, this.options.maxRows);
    this.#inFlight++;
    void this.#commit(batch).finally(() => {
      this.#inFlight--;
      // Callers whose appends just resolved append again in this same tick: setImmediate lets
      // them all join the next batch, which then goes at once (it already waited a commit).
      if (this.#waiting.length >= this.options.maxRows) this.#flush();
      else if (this.#waiting.length > 0) setImmediate(() => this.#flush());
      if (this.#inFlight === 0 && this.#waiting.length === 0) for (const done of this.#idle.splice(0)) done();
    });
  }

  async #commit(batch: Waiting[]): Promise<void> {
    const events = batch.map((w) => w.event);
    let result: Result<BatchOutcome[], SqlError>;
    try {
      result = await this.store.appendBatch(events, this.now());
    } catch (thrown) {
      result = err({ type: "StoreFailed", message: `audit batch failed: ${String(thrown)}`, retryable: false, cause: thrown });
    }
    if (result.isErr()) {
      const error = result.error;
      for (const w of batch) w.resolve(err(error));
      return;
    }
    const outcomes = result.value;
    try {
      this.committed(events, outcomes);
    } finally {
      batch.forEach((w, i) => w.resolve(result.map(() => outcomes[i] as BatchOutcome)));
    }
  }

  /** Resolves once nothing waits and nothing is committing. */
  flush(): Promise<void> {
    if (this.#waiting.length === 0 && this.#inFlight === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#flush();
    return done;
  }
}
