import { sqlStateOf } from "../../core/postgres/result.js";
import type { SqlClient } from "../../core/postgres/sql-client.js";
import { EMPTY_HEAD, type ChainHead, type KnownKey } from "../chain.js";
import type { PreparedEvent } from "../event.js";
import type { BatchOutcome } from "../store.js";
import { APPEND_CALL, STALE_CHAIN } from "./append-function.js";
import { planChain, planParams, type ChainPlan } from "./chain-plan.js";
import { LOCKED_APPEND_CALL } from "./locked-append-function.js";
import { lockedParams } from "./locked-params.js";

/** A batch queued for a locked write, and its caller's promise. */
interface LockedWaiting {
  readonly events: readonly PreparedEvent[];
  readonly nowMs: number;
  readonly resolve: (outcomes: BatchOutcome[]) => void;
  readonly reject: (thrown: unknown) => void;
}

/** A row `audit_append_locked` returns: an event's outcome, or a workspace's new head. */
interface LockedRow {
  kind: "entry" | "head";
  i: number;
  seq: number;
  hash: Uint8Array;
  recorded_at_ms: number;
  flag: boolean;
}

/**
 * Writes batches through `audit_append_chained` (chained in Node) or, for
 * workspaces other processes write too, `audit_append_locked` (chained in
 * Postgres under the head locks).
 *
 * It keeps, per workspace, the head the chain will have once every batch it
 * sent has committed, and chains the next batch on it: so a batch can be
 * sent while the previous one still commits (group commit keeps up to
 * `batch.maxInFlight` in flight), and in the common case (one process writes
 * a workspace at a time) each batch is ONE statement in its own transaction.
 * The function checks the heads under their locks (waiting for this
 * process's earlier batch when it finds a head behind); when one moved
 * (another process wrote, or an earlier batch of ours failed) or an
 * idempotency key already exists, it rolls the batch back (SQLSTATE TK409),
 * and the batch is written by the locked function instead, which cannot be
 * stale. A batch Postgres aborts as a deadlock victim goes that way too: its
 * rows, inserted before the locks, collided with another writer's, and the
 * locked function inserts only once it holds the locks.
 *
 * The workspaces whose heads the locked write found moved then stay on the
 * locked way ("contended") until QUIET_LOCKED_WRITES locked writes in a row
 * find their heads where this process left them: under contention every chain
 * built in Node would be stale, and trying it first cost each batch an insert,
 * a wait for the locks and a rollback.
 * Locked writes run one at a time, each writing every batch queued for it
 * (see #drainLocked); a batch for the one-statement way on a workspace with a
 * locked write still to end waits for it; and a batch only some of whose
 * workspaces go the locked way is written as two parts (see split).
 */
export class BatchWriter {
  /** Per workspace: its head once every batch sent so far has committed (what the next batch chains on). */
  readonly #expected = new Map<string, ChainHead>();
  /** Per contended workspace, how many locked writes in a row found its head where this process left it (or SUSPECT). */
  readonly #contended = new Map<string, number>();
  /** One-statement attempts in flight, with their workspaces (each resolves, never rejects, when its statement ends). */
  readonly #oneStatementWrites = new Map<Promise<void>, readonly string[]>();
  /** Batches queued for a locked write, and whether #drainLocked is writing them. */
  readonly #lockedWaiting: LockedWaiting[] = [];
  #draining = false;
  /**
   * Per workspace with a locked write queued or running, a promise that settles after the last one
   * (locked writes settle in the order they were queued).
   */
  readonly #lockedTails = new Map<string, Promise<void>>();

  constructor(private readonly sql: SqlClient) {}

  /**
   * The batch as two parts when only some of its workspaces go the locked way (contended), so that
   * the others go the one-statement way at once instead of waiting with them (see AuditStore.split).
   * Two processes sharing one workspace out of 101, with a tenth of the events on it: 6.4-15.3k
   * appends/s unsplit, 12.1-24.5k/s split (16-32k/s with nothing shared).
   */
  split(events: readonly PreparedEvent[]): PreparedEvent[][] {
    const locked: PreparedEvent[] = [];
    const free: PreparedEvent[] = [];
    for (const e of events) (this.#contended.has(e.workspaceId) ? locked : free).push(e);
    return locked.length === 0 || free.length === 0 ? [[...events]] : [free, locked];
  }

  /** Writes the batch; resolves after COMMIT with each event's outcome. Throws what the driver throws. */
  async write(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    // A batch for the one-statement way on a workspace with a locked write of this process still to
    // end could neither chain on the head that write leaves nor safely race it: it waits for that
    // write. (A batch for the locked way queues behind it instead.)
    while (!events.some((e) => this.#contended.has(e.workspaceId)) && events.some((e) => this.#lockedTails.has(e.workspaceId))) {
      await Promise.all(events.map((e) => this.#lockedTails.get(e.workspaceId)));
    }
    if (!events.some((e) => this.#contended.has(e.workspaceId))) {
      const plan = planChain(events, nowMs, (w) => this.#expected.get(w), NONE);
      this.#claim(plan);
      const attempt = this.sql.query(APPEND_CALL, planParams(plan));
      const attempted = attempt.then(NOTHING, NOTHING);
      this.#oneStatementWrites.set(attempted, plan.workspaces);
      try {
        await attempt;
        return [...plan.outcomes];
      } catch (thrown) {
        this.#forget(plan);
        if (!isDeadlock(thrown) && !isStale(thrown)) throw thrown;
        // Until a locked write says which heads moved, its workspaces go the locked way (a deadlock
        // victim sent the one-statement way again would meet the same rows again).
        for (const w of plan.workspaces) if (!this.#contended.has(w)) this.#contended.set(w, SUSPECT);
      } finally {
        this.#oneStatementWrites.delete(attempted);
      }
    }
    return this.#queueLocked(events, nowMs);
  }

  /**
   * Queues the batch for a locked write (see #drainLocked). Locked writes run one at a time, so
   * each believes the head the previous one left, and "moved" means another process wrote.
   */
  #queueLocked(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const workspaces = [...new Set(events.map((e) => e.workspaceId))];
    const run = new Promise<BatchOutcome[]>((resolve, reject) => this.#lockedWaiting.push({ events, nowMs, resolve, reject }));
    if (!this.#draining) void this.#drainLocked();
    const settled = run.then(NOTHING, NOTHING);
    for (const w of workspaces) this.#lockedTails.set(w, settled);
    // Registered before the caller's own reactions, so a batch woken by it sees the tails already gone.
    const ended = (): void => {
      for (const w of workspaces) if (this.#lockedTails.get(w) === settled) this.#lockedTails.delete(w);
    };
    run.then(ended, ended);
    return run;
  }

  /**
   * Writes the batches queued for a locked write, those waiting at once in one statement (a shared
   * workspace's events arrive in small parts, split from batches of other workspaces), until none
   * waits. Each statement starts once the one-statement writes already sent that touch its
   * workspaces have ended: its rows, inserted under the locks, could collide with theirs, inserted
   * before the locks they wait for (a deadlock, broken only after Postgres' deadlock_timeout); each
   * of those commits or gives up by itself, within its 200 ms wait for a predecessor.
   */
  async #drainLocked(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#lockedWaiting.length > 0) {
        const group = this.#lockedWaiting.splice(0, partsUpTo(this.#lockedWaiting, MAX_LOCKED_EVENTS));
        const events = group.flatMap((g) => g.events);
        const touched = new Set(events.map((e) => e.workspaceId));
        const overlapping = [...this.#oneStatementWrites].filter(([, workspaces]) => workspaces.some((w) => touched.has(w)));
        await Promise.all(overlapping.map(([attempted]) => attempted));
        try {
          const nowMs = group.reduce((latest, g) => Math.max(latest, g.nowMs), 0);
          const outcomes = await this.#writeLocked(events, nowMs);
          let at = 0;
          for (const g of group) g.resolve(outcomes.slice(at, (at += g.events.length)));
        } catch (thrown) {
          for (const g of group) g.reject(thrown);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** One statement that locks the heads, then chains and writes in Postgres (see locked-append-function.ts). */
  async #writeLocked(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const { workspaces, params } = lockedParams(events, nowMs, (w) => this.#expected.get(w) ?? EMPTY_HEAD);
    const { rows } = await this.sql.query<LockedRow>(LOCKED_APPEND_CALL, params);
    const outcomes = new Array<BatchOutcome>(events.length);
    for (const row of rows) {
      const head = { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) };
      if (row.kind === "entry") {
        outcomes[row.i - 1] = { ...head, duplicate: row.flag };
        continue;
      }
      const w = workspaces[row.i - 1] as string;
      this.#expected.set(w, head);
      // Moved: another process wrote the workspace since this one did (or this one's belief was lost
      // with a failed batch). A suspect that did not move only shared a failed batch with one that did.
      const quiet = this.#contended.get(w);
      if (row.flag) this.#contended.set(w, 0);
      else if (quiet === undefined) continue;
      else if (quiet === SUSPECT || quiet + 1 >= QUIET_LOCKED_WRITES) this.#contended.delete(w);
      else this.#contended.set(w, quiet + 1);
    }
    return outcomes;
  }

  /** Later batches chain on this plan's heads while it commits. */
  #claim(plan: ChainPlan): void {
    plan.workspaces.forEach((w, i) => this.#expected.set(w, plan.after[i] as ChainHead));
  }

  /**
   * The plan did not commit (or its outcome is unknown, e.g. the connection dropped during COMMIT):
   * go back to the heads it was chained on, unless a later batch claimed them since (that one fails
   * too, and goes back). A locked write then tells whether those were still the heads (the batch
   * failed on an idempotency key already stored) or another process had moved them.
   */
  #forget(plan: ChainPlan): void {
    plan.workspaces.forEach((w, i) => {
      if (this.#expected.get(w) === plan.after[i]) this.#expected.set(w, plan.before[i] as ChainHead);
    });
  }
}

/** TK409 (chained on stale heads or keys) or a unique violation (another writer chained the same seq): write it locked. */
function isStale(thrown: unknown): boolean {
  const code = sqlStateOf(thrown);
  return code === STALE_CHAIN || code === "23505";
}

const NOTHING = (): void => undefined;

/**
 * Locked writes in a row that must find a workspace's head where this process left it before
 * its batches go the one-statement way again. With one, two processes sharing a workspace
 * flip-flopped: a locked write often found the head unmoved, the next batch went the
 * one-statement way, found it moved and rolled back (two processes on 16 shared workspaces:
 * 1.8-2.9k appends/s and about 200 rollbacks a second; 8.7-13.8k/s with eight).
 */
export const QUIET_LOCKED_WRITES = 8;

/** The most events one locked write takes from the queue (group commit's default batch size): it holds the locks. */
const MAX_LOCKED_EVENTS = 500;

/** How many of the queued parts (at least one) fit in `max` events together. */
function partsUpTo(queue: readonly LockedWaiting[], max: number): number {
  let take = 0;
  let count = 0;
  for (const part of queue) {
    if (take > 0 && count + part.events.length > max) break;
    count += part.events.length;
    take++;
  }
  return take;
}

/** A workspace of a batch that failed the one-statement way, before a locked write has seen its head. */
const SUSPECT = -1;

/** 40P01: Postgres aborted the transaction to break a lock cycle; nothing of it was written. */
function isDeadlock(thrown: unknown): boolean {
  return sqlStateOf(thrown) === "40P01";
}

const NONE: ReadonlyMap<string, ReadonlyMap<string, KnownKey>> = new Map();
