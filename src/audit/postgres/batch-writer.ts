import { sqlStateOf } from "../../core/postgres/result.js";
import type { SqlClient } from "../../core/postgres/sql-client.js";
import { EMPTY_HEAD, type ChainHead, type KnownKey } from "../chain.js";
import type { PreparedEvent } from "../event.js";
import type { BatchOutcome } from "../store.js";
import { APPEND_CALL, STALE_CHAIN } from "./append-function.js";
import { planChain, planParams, type ChainPlan } from "./chain-plan.js";
import { LOCKED_APPEND_CALL } from "./locked-append-function.js";
import { lockedParams } from "./locked-params.js";

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
 * The batch's workspaces then stay on the locked way ("contended") until a
 * locked write finds their heads where this process left them: under
 * contention every chain built in Node would be stale, and trying it first
 * cost each batch an insert, a wait for the locks and a rollback.
 * A locked write starts once the one-statement writes already sent have
 * ended, so it never holds heads one of them waits for.
 */
export class BatchWriter {
  /** Per workspace: its head once every batch sent so far has committed (what the next batch chains on). */
  readonly #expected = new Map<string, ChainHead>();
  /** Workspaces written the locked way (see above). */
  readonly #contended = new Set<string>();
  /** One-statement attempts in flight (each resolves, never rejects, when its statement ends). */
  readonly #oneStatementWrites = new Set<Promise<void>>();
  /** Locked writes (audit_append_locked) in flight. */
  #lockedWrites = 0;

  constructor(private readonly sql: SqlClient) {}

  /** Writes the batch; resolves after COMMIT with each event's outcome. Throws what the driver throws. */
  async write(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    if (!events.some((e) => this.#contended.has(e.workspaceId))) {
      const plan = planChain(events, nowMs, (w) => this.#expected.get(w), NONE);
      this.#claim(plan);
      const attempt = this.sql.query(APPEND_CALL, planParams(plan));
      const attempted = attempt.then(NOTHING, NOTHING);
      this.#oneStatementWrites.add(attempted);
      try {
        await attempt;
        return [...plan.outcomes];
      } catch (thrown) {
        this.#forget(plan);
        if (!isDeadlock(thrown) && !isStale(thrown)) throw thrown;
      } finally {
        this.#oneStatementWrites.delete(attempted);
      }
    }
    // Until it has written, later batches touching any of its workspaces take the locked way too.
    for (const e of events) this.#contended.add(e.workspaceId);
    // The locked write must not hold heads that a one-statement write of this process waits for
    // with rows it inserted before the locks: its own rows, inserted under them, may collide with
    // those (a deadlock, broken only after Postgres' deadlock_timeout). So the one-statement writes
    // already sent end first: each commits or gives up by itself, within its 200 ms wait for a
    // predecessor. Earlier locked writes need no waiting for: they only queue on the locks.
    await Promise.all([...this.#oneStatementWrites]);
    return this.#writeLocked(events, nowMs);
  }

  /** One statement that locks the heads, then chains and writes in Postgres (see locked-append-function.ts). */
  async #writeLocked(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const { workspaces, params } = lockedParams(events, nowMs, (w) => this.#expected.get(w) ?? EMPTY_HEAD);
    this.#lockedWrites++;
    let rows: LockedRow[];
    try {
      ({ rows } = await this.sql.query<LockedRow>(LOCKED_APPEND_CALL, params));
    } finally {
      this.#lockedWrites--;
    }
    const outcomes = new Array<BatchOutcome>(events.length);
    for (const row of rows) {
      const head = { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) };
      if (row.kind === "entry") {
        outcomes[row.i - 1] = { ...head, duplicate: row.flag };
        continue;
      }
      const w = workspaces[row.i - 1] as string;
      // Two locked writes of this process may end in either order: keep the later head.
      if ((this.#expected.get(w)?.seq ?? -1) < head.seq) this.#expected.set(w, head);
      // Moved: another process wrote the workspace since this one did. Left contended, too, while
      // another locked write of this process is in flight: a one-statement write must not race it.
      if (!row.flag && this.#lockedWrites === 0) this.#contended.delete(w);
    }
    return outcomes;
  }

  /** Later batches chain on this plan's heads while it commits. */
  #claim(plan: ChainPlan): void {
    plan.workspaces.forEach((w, i) => this.#expected.set(w, plan.after[i] as ChainHead));
  }

  /**
   * The plan did not commit (or its outcome is unknown, e.g. the connection dropped during COMMIT):
   * forget the heads it claimed, unless a later batch claimed them since (that one fails too, and forgets).
   */
  #forget(plan: ChainPlan): void {
    plan.workspaces.forEach((w, i) => {
      if (this.#expected.get(w) === plan.after[i]) this.#expected.delete(w);
    });
  }
}

/** TK409 (chained on stale heads or keys) or a unique violation (another writer chained the same seq): write it locked. */
function isStale(thrown: unknown): boolean {
  const code = sqlStateOf(thrown);
  return code === STALE_CHAIN || code === "23505";
}

const NOTHING = (): void => undefined;

/** 40P01: Postgres aborted the transaction to break a lock cycle; nothing of it was written. */
function isDeadlock(thrown: unknown): boolean {
  return sqlStateOf(thrown) === "40P01";
}

const NONE: ReadonlyMap<string, ReadonlyMap<string, KnownKey>> = new Map();
