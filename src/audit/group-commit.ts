import { err, ok, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import type { PreparedEvent } from "./event.js";
import { BatchingMode } from "./batching-mode.js";
import type { AuditStore, BatchOutcome } from "./store.js";

/** Group-commit tuning. */
export interface BatchOptions {
  /** Flush as soon as this many events wait. @default 500 */
  readonly maxRows: number;
  /** Otherwise flush this long after the first waiting event. @default 2 */
  readonly lingerMs: number;
  /**
   * Batches in flight at once. With 2, the next batch is chained on the heads
   * the previous one will leave and sent while it commits, so preparing one
   * batch overlaps committing the other (see BatchWriter). @default 2
   */
  readonly maxInFlight: number;
  /**
   * Independent commit lanes; a workspace always uses the same lane, so lanes
   * never wait on each other's head locks and their transactions (and fsyncs,
   * which Postgres groups) overlap. Uses up to lanes × maxInFlight pool connections. @default 1
   */
  readonly lanes: number;
}

export const DEFAULT_BATCH: BatchOptions = { maxRows: 500, lingerMs: 2, maxInFlight: 2, lanes: 1 };

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
 *
 * Events that arrive while a batch commits form the next batch, sent while
 * it commits when `maxInFlight` allows (else as soon as it ends). When callers
 * await each append before the next, `BatchingMode` decides whether they all
 * share one batch or form two halves that take turns, so that one half's batch
 * commits while the other half prepares (and, with two in flight, sends) its
 * next one.
 */
export class GroupCommitter {
  #waiting: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  /** Parts of split batches committing beside the batches in flight (see #flush). */
  #aside = 0;
  #idle: (() => void)[] = [];
  /** Flush as soon as this many wait (the first half of a split batch's callers); 0 = off. */
  #splitAt = 0;
  /** A flush is scheduled for the end of this turn of the event loop. */
  #soon = false;

  constructor(
    private readonly store: AuditStore,
    private readonly options: BatchOptions,
    private readonly now: () => number,
    private readonly committed: (events: readonly PreparedEvent[], outcomes: readonly BatchOutcome[]) => void,
    private readonly mode: { completed(size: number): boolean } = new BatchingMode(() => performance.now()),
  ) {}

  submit(event: PreparedEvent): Promise<Result<BatchOutcome, SqlError>> {
    return new Promise((resolve) => {
      this.#waiting.push({ event, resolve });
      const waiting = this.#waiting.length;
      if (waiting >= this.options.maxRows || (this.#splitAt > 0 && waiting >= this.#splitAt)) this.#flush();
      // While a batch commits, the next one fills up; its completion flushes it (no linger needed).
      else if (this.#inFlight >= this.options.maxInFlight || this.#soon) return;
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
    this.#splitAt = 0;
    const batch = this.#waiting.splice(0, this.options.maxRows);
    const [first, ...aside] = this.#parts(batch);
    this.#inFlight++;
    void this.#commit(first as Waiting[], false);
    // The store's other parts (workspaces it writes the slow way) commit beside the batches in flight,
    // so they do not hold up the next batches; their callers are awaiting them, which bounds them.
    for (const part of aside) {
      this.#aside++;
      void this.#commit(part, true);
    }
  }

  /**
   * The batch as the store would rather write it (see AuditStore.split): usually one part. A split
   * that does not use each of the batch's events exactly once, or throws, is ignored: every caller
   * must get exactly one outcome.
   */
  #parts(batch: Waiting[]): Waiting[][] {
    let split: readonly (readonly PreparedEvent[])[] | undefined;
    try {
      split = this.store.split?.(batch.map((w) => w.event));
    } catch {
      return [batch];
    }
    if (split === undefined || split.length <= 1) return [batch];
    // Each event to its callers, in order (the same event object may have been submitted twice).
    const callers = new Map<PreparedEvent, Waiting[]>();
    for (const w of batch) {
      const list = callers.get(w.event);
      if (list === undefined) callers.set(w.event, [w]);
      else list.push(w);
    }
    const parts: Waiting[][] = [];
    for (const events of split) {
      const part: Waiting[] = [];
      for (const e of events) {
        const w = callers.get(e)?.shift();
        if (w === undefined) return [batch];
        part.push(w);
      }
      if (part.length > 0) parts.push(part);
    }
    return parts.reduce((n, p) => n + p.length, 0) === batch.length ? parts : [batch];
  }

  /** Flushes at the end of this turn of the event loop, once every resolved caller has appended again. */
  #flushSoon(): void {
    if (this.#soon) return;
    this.#soon = true;
    setImmediate(() => {
      this.#soon = false;
      this.#flush();
    });
  }

  /** Commits a batch (or an aside part of one, which counts neither as in flight nor for BatchingMode). */
  async #commit(batch: Waiting[], aside: boolean): Promise<void> {
    const events = batch.map((w) => w.event);
    let result: Result<BatchOutcome[], SqlError>;
    try {
      result = await this.store.appendBatch(events, this.now());
    } catch (thrown) {
      result = err({ type: "StoreFailed", message: `audit batch failed: ${String(thrown)}`, retryable: false, cause: thrown });
    }
    if (aside) this.#aside--;
    else this.#inFlight--;
    if (!aside && this.mode.completed(batch.length)) {
      // Split: the other half already waits, so it goes now, before this batch's callers run;
      // with nothing waiting or in flight, the first half of them to append again goes as soon
      // as it is ready and the rest at the end of this turn (see #flushSoon).
      if (this.#waiting.length > 0) this.#flush();
      else if (this.#inFlight === 0 && batch.length >= 2) this.#splitAt = Math.ceil(batch.length / 2);
    }
    try {
      this.#settle(batch, events, result);
    } finally {
      if (this.#waiting.length >= this.options.maxRows) this.#flush();
      this.#flushSoon();
      if (this.#inFlight === 0 && this.#aside === 0 && this.#waiting.length === 0) for (const done of this.#idle.splice(0)) done();
    }
  }

  #settle(batch: Waiting[], events: PreparedEvent[], result: Result<BatchOutcome[], SqlError>): void {
    if (result.isErr()) {
      const error = result.error;
      for (const w of batch) w.resolve(err(error));
      return;
    }
    const outcomes = result.value;
    try {
      this.committed(events, outcomes);
    } finally {
      for (let i = 0; i < batch.length; i++) (batch[i] as Waiting).resolve(ok(outcomes[i] as BatchOutcome));
    }
  }

  /** Resolves once nothing waits and nothing is committing. */
  flush(): Promise<void> {
    if (this.#waiting.length === 0 && this.#inFlight === 0 && this.#aside === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#flush();
    return done;
  }
}
