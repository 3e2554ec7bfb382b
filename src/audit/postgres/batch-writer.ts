import type { SqlClient, SqlExecutor } from "../../core/postgres/sql-client.js";
import type { ChainHead, KnownKey } from "../chain.js";
import type { PreparedEvent } from "../event.js";
import type { BatchOutcome } from "../store.js";
import { planChain, planParams, type ChainPlan } from "./chain-plan.js";

const CALL = `select kind, workspace_id::text as workspace_id, key, seq::float8 as seq, hash, recorded_at_ms::float8 as recorded_at_ms
  from audit_append_chained($1::uuid[], $2::bigint[], $3::bytea, $4::bigint[], $5::bigint[], $6::bytea, $7::bigint[],
    $8::int[], $9::bigint[], $10::bytea, $11::bytea, $12::text, $13::text, $14::text, $15::text[], $16::text[], $17::text[],
    $18::text[], $19::text[], $20::bigint[])`;

/** A row `audit_append_chained` returns when the plan was built on stale state. */
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
 * It remembers each workspace's head after its own commits, so in the common
 * case (one process writes a workspace at a time) a batch is ONE statement in
 * its own transaction: chain on the remembered heads, and the function checks
 * them under the head locks before writing. When a head moved (another
 * process wrote) or an idempotency key already exists, the function writes
 * nothing and returns the fresh state; the batch is then written in an explicit
 * transaction that keeps the locks between re-chaining and writing, so it
 * always makes progress. Workspaces seen moving are written that way until a
 * locked write finds their head where this process left it.
 */
export class BatchWriter {
  readonly #heads = new Map<string, ChainHead>();
  readonly #contended = new Set<string>();

  constructor(private readonly sql: SqlClient) {}

  /** Writes the batch; resolves after COMMIT with each event's outcome. Throws what the driver throws. */
  async write(events: readonly PreparedEvent[], nowMs: number): Promise<BatchOutcome[]> {
    const plan = planChain(events, nowMs, (w) => this.#heads.get(w), NONE);
    try {
      if (!plan.workspaces.some((w) => this.#contended.has(w))) {
        const stale = await this.#call(this.sql, plan);
        if (stale.length === 0) return this.#committed(plan);
        this.#learn(stale);
        return await this.#writeLocked(events, nowMs, keysOf(stale));
      }
      return await this.#writeLocked(events, nowMs, NONE);
    } catch (thrown) {
      // Unknown outcome (e.g. the connection dropped during COMMIT): forget what we believed.
      for (const w of plan.workspaces) this.#heads.delete(w);
      throw thrown;
    }
  }

  /** One transaction: the first call locks the heads (and reports them if they moved); the second cannot be stale. */
  async #writeLocked(events: readonly PreparedEvent[], nowMs: number, known: KnownKeys): Promise<BatchOutcome[]> {
    const plan = await this.sql.transaction(async (tx) => {
      const first = planChain(events, nowMs, (w) => this.#heads.get(w), known);
      const stale = await this.#call(tx, first);
      const moved = new Set(stale.filter((r) => r.kind === "head").map((r) => r.workspace_id));
      // A head found where this process left it: nobody else wrote it meanwhile.
      for (const w of first.workspaces) if (!moved.has(w)) this.#contended.delete(w);
      if (stale.length === 0) return first;
      this.#learn(stale);
      // Built from what this transaction saw and holds locked, not from the remembered heads,
      // which another batch in flight (batch.maxInFlight > 1) may have moved meanwhile.
      const locked = new Map(first.workspaces.map((w, i) => [w, first.before[i] as ChainHead]));
      for (const row of stale) if (row.kind === "head") locked.set(row.workspace_id, headOf(row));
      const second = planChain(events, nowMs, (w) => locked.get(w), merge(known, keysOf(stale)));
      const again = await this.#call(tx, second);
      if (again.length > 0) throw new Error("audit_append_chained: state changed under the head locks");
      return second;
    });
    return this.#committed(plan);
  }

  async #call(executor: SqlExecutor, plan: ChainPlan): Promise<StaleRow[]> {
    const { rows } = await executor.query<StaleRow>(CALL, planParams(plan));
    return rows;
  }

  /** Takes the fresh heads; a head that moved away from one this process knew was written by someone else. */
  #learn(stale: readonly StaleRow[]): void {
    for (const row of stale) {
      if (row.kind !== "head") continue;
      if (this.#heads.has(row.workspace_id)) this.#contended.add(row.workspace_id);
      this.#heads.set(row.workspace_id, headOf(row));
    }
  }

  #committed(plan: ChainPlan): BatchOutcome[] {
    plan.workspaces.forEach((w, i) => this.#heads.set(w, plan.after[i] as ChainHead));
    return [...plan.outcomes];
  }
}

function headOf(row: StaleRow): ChainHead {
  return { seq: Number(row.seq), hash: Buffer.from(row.hash), recordedAtMs: Number(row.recorded_at_ms) };
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

function merge(a: KnownKeys, b: KnownKeys): KnownKeys {
  if (a.size === 0) return b;
  const out = new Map<string, Map<string, KnownKey>>();
  for (const source of [a, b]) for (const [w, keys] of source) out.set(w, new Map([...(out.get(w) ?? []), ...keys]));
  return out;
}
