import { sqlStateOf } from "../../core/postgres/result.js";
import type { SqlClient, SqlExecutor } from "../../core/postgres/sql-client.js";
import type { ChainHead, KnownKey } from "../chain.js";
import type { PreparedEvent } from "../event.js";
import type { BatchOutcome } from "../store.js";
import { APPEND_CALL, STALE_CHAIN } from "./append-function.js";
import { planChain, planParams, type ChainPlan } from "./chain-plan.js";


/** A row `audit_append_chained(…, check_only => true)` returns: a head that moved, or a key already stored. */
interface StaleRow {
  kind: "head" | "key";
  workspace_id: string;
  key: string | null;
  seq: number;
  hash: Uint8Array;
  recorded_at_ms: number;
}

/**
 * Writes batches through `audit_append_chained`, chaining them in Node.
 *
 * It keeps, per workspace, the head the chain will have once every batch it
 * sent has committed, and chains the next batch on it: so a batch can be
 * sent while the previous one still commits (group commit keeps up to
 * `batch.maxInFlight` in flight), and in the common case (one process writes
 * a workspace at a time) each batch is ONE statement in its own transaction.
 * The function checks the heads under their locks (waiting for this
 * process's earlier batch when it finds a head behind); when one moved
 * (another process wrote, or an earlier batch of ours failed) or an
 * idempotency key already exists, it rolls the batch back (SQLSTATE TK409)
 * and the batch is written again in an explicit transaction that reads the
 * heads and keys under the locks, re-chains on them and writes, so it always
 * makes progress. That transaction starts once this process's earlier
 * batches have settled and its one-statement writes already sent have
 * ended, so it never holds heads one of them is waiting for.
 * A batch Postgres aborts as a deadlock victim goes that way too: its rows,
 * inserted before the locks, collided with another writer's inserted under
 * them, and locked writes insert only once they hold the locks.
 * Workspaces seen moving under another writer are written that way directly
 * until a locked write finds their head where this process left it.
 */
export class BatchWriter {
  /** Per workspace: its head once every batch sent so far has committed (what the next batch chains on). */
  readonly #expected = new Map<string, ChainHead>();
  /** Per workspace: its head after this process's last commit to it (to tell another writer's moves from ours). */
  readonly #committed = new Map<string, ChainHead>();
  readonly #contended = new Set<string>();
  /** Writes not settled yet, in the order they were asked for. */
  readonly #inFlight = new Set<Promise<BatchOutcome[]>>();
  /** One-statement attempts in flight (each resolves, never rejects, when its statement ends). */
  readonly #oneStatementWrites = new Set<Promise<void>>();

  constructor(private readonly sql: SqlClient) {}

  /** Writes the batch; resolves after COMMIT with each event's outcome. Throws what the driver throws. */
  write(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const earlier = [...this.#inFlight];
    const written = this.#write(events, nowMs, earlier);
    this.#inFlight.add(written);
    const settled = (): void => void this.#inFlight.delete(written);
    written.then(settled, settled);
    return written;
  }

  async #write(events: readonly PreparedEvent[], nowMs: number, earlier: readonly Promise<unknown>[]): Promise<BatchOutcome[]> {
    if (!events.some((e) => this.#contended.has(e.workspaceId))) {
      const plan = planChain(events, nowMs, (w) => this.#expected.get(w), NONE);
      this.#claim(plan);
      const attempt = this.#call(this.sql, plan, false);
      const attempted = attempt.then(NOTHING, NOTHING);
      this.#oneStatementWrites.add(attempted);
      try {
        await attempt;
        return this.#committedPlan(plan);
      } catch (thrown) {
        if (!isDeadlock(thrown) && !isStale(thrown)) {
          this.#forget(plan);
          throw thrown;
        }
        this.#forget(plan);
        for (const w of plan.workspaces) this.#contended.add(w);
      } finally {
        this.#oneStatementWrites.delete(attempted);
      }
    }
    // The locked write must not hold heads that a batch of this process waits for with rows it
    // inserted before the locks, rows the re-chained write may collide with (a deadlock, broken
    // only after Postgres' deadlock_timeout). So this process's earlier batches settle first, and
    // the one-statement writes already sent (later ones too, chained on heads this batch claimed)
    // end first: each commits or gives up by itself, within its 200 ms wait for a predecessor.
    await Promise.allSettled(earlier);
    await Promise.all([...this.#oneStatementWrites]);
    return this.#writeLocked(events, nowMs);
  }

  /** One transaction: read the heads and keys under their locks, chain on them, write. */
  async #writeLocked(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    let claimed: ChainPlan | undefined;
    try {
      const plan = await this.sql.transaction(async (tx) => {
        const first = planChain(events, nowMs, (w) => this.#expected.get(w), NONE);
        const stale = await this.#call(tx, first, true);
        const moved = new Set(stale.filter((r) => r.kind === "head").map((r) => r.workspace_id));
        // A head found where this process expected it: nobody else wrote it meanwhile.
        for (const w of first.workspaces) if (!moved.has(w)) this.#contended.delete(w);
        let plan = first;
        if (stale.length > 0) {
          const locked = new Map(first.workspaces.map((w, i) => [w, first.before[i] as ChainHead]));
          for (const row of stale) {
            if (row.kind !== "head") continue;
            const head = headOf(row);
            const ours = this.#committed.get(row.workspace_id);
            if (ours !== undefined && !sameHead(ours, head)) this.#contended.add(row.workspace_id);
            locked.set(row.workspace_id, head);
          }
          plan = planChain(events, nowMs, (w) => locked.get(w), keysOf(stale));
        }
        claimed = plan;
        this.#claim(plan);
        // Under the locks the first call took nothing can have moved: a TK409 here would be a bug, and throws.
        await this.#call(tx, plan, false);
        return plan;
      });
      return this.#committedPlan(plan);
    } catch (thrown) {
      if (claimed !== undefined) this.#forget(claimed);
      throw thrown;
    }
  }

  async #call(executor: SqlExecutor, plan: ChainPlan, checkOnly: boolean): Promise<StaleRow[]> {
    const { rows } = await executor.query<StaleRow>(APPEND_CALL, [...planParams(plan), checkOnly]);
    return rows;
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
      this.#committed.delete(w);
    });
  }

  #committedPlan(plan: ChainPlan): BatchOutcome[] {
    plan.workspaces.forEach((w, i) => this.#committed.set(w, plan.after[i] as ChainHead));
    return [...plan.outcomes];
  }
}

/** TK409 (chained on stale heads or keys) or a unique violation (another writer chained the same seq): re-chain under the locks. */
function isStale(thrown: unknown): boolean {
  const code = sqlStateOf(thrown);
  return code === STALE_CHAIN || code === "23505";
}

const NOTHING = (): void => undefined;

/** 40P01: Postgres aborted the transaction to break a lock cycle; nothing of it was written. */
function isDeadlock(thrown: unknown): boolean {
  return sqlStateOf(thrown) === "40P01";
}

function headOf(row: StaleRow): ChainHead {
  return { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) };
}

function sameHead(a: ChainHead, b: ChainHead): boolean {
  return a.seq === b.seq && a.recordedAtMs === b.recordedAtMs && Buffer.from(a.hash).equals(b.hash);
}

type KnownKeys = ReadonlyMap<string, ReadonlyMap<string, KnownKey>>;
const NONE: KnownKeys = new Map();

function keysOf(stale: readonly StaleRow[]): KnownKeys {
  const out = new Map<string, Map<string, KnownKey>>();
  for (const row of stale) {
    if (row.kind !== "key" || row.key === null) continue;
    let keys = out.get(row.workspace_id);
    if (keys === undefined) out.set(row.workspace_id, (keys = new Map()));
    keys.set(row.key, { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) });
  }
  return out;
}
