import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EMPTY_HEAD, type ChainHead } from "../../../src/audit/chain.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { postgresAuditStore } from "../../../src/audit/postgres.js";
import { APPEND_CALL, STALE_CHAIN } from "../../../src/audit/postgres/append-function.js";
import { planChain, planParams, type ChainPlan } from "../../../src/audit/postgres/chain-plan.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import { systemClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";
import { auditFunctionDatabase } from "./support/database.js";

/*
 * audit_append_chained when a process keeps two batches in flight: the second is chained on
 * the heads the first will leave, so it must never commit before the first, whichever of the
 * two reaches Postgres first.
 */
const servers = inject("servers");
let database: Awaited<ReturnType<typeof auditFunctionDatabase>>;
let pool: pg.Pool;
const random = seededRandom(17);

beforeAll(async () => {
  database = await auditFunctionDatabase(servers.postgresUrl, "tk_audit_fn");
  pool = database.pool;
});
afterAll(async () => {
  await database.drop();
});

/** `count` events over `workspaces`, chained on `heads` (EMPTY_HEAD where absent). */
function plan(workspaces: string[], count: number, heads: ReadonlyMap<string, ChainHead>): ChainPlan {
  const events = Array.from({ length: count }, (_, i) =>
    prepareEvent(
      { workspaceId: workspaces[i % workspaces.length], actor: { type: "member", id: `m${i}` }, action: "journey.updated", metadata: { i } },
      DEFAULT_LIMITS,
      systemClock,
      random,
    )._unsafeUnwrap(),
  );
  return planChain(events, Date.now(), (w) => heads.get(w) ?? EMPTY_HEAD, new Map());
}

function after(p: ChainPlan): Map<string, ChainHead> {
  return new Map(p.workspaces.map((w, i) => [w, p.after[i] as ChainHead]));
}

async function seqs(workspaceId: string): Promise<number[]> {
  const { rows } = await pool.query<{ seq: string }>("select seq from audit_entry where workspace_id = $1 order by seq", [workspaceId]);
  return rows.map((r) => Number(r.seq));
}

/** Waits until the backend `pid` sleeps in the function's wait-for-predecessor loop. */
async function untilPolling(pid: number): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ wait_event: string | null }>("select wait_event from pg_stat_activity where pid = $1", [pid]);
    if (rows[0]?.wait_event === "PgSleep") return;
    await new Promise((r) => setImmediate(r));
  }
}

describe("audit_append_chained with two batches of one process in flight", () => {
  it("a batch that reaches the head locks before the batch it was chained on waits for that one, then commits after it", async () => {
    const workspaces = [randomUUID(), randomUUID()];
    const zero = plan(workspaces, 4, new Map());
    await pool.query(APPEND_CALL, planParams(zero));
    const first = plan(workspaces, 6, after(zero));
    const second = plan(workspaces, 6, after(first));

    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
      const sent = client.query(APPEND_CALL, planParams(second));
      // The second batch found its heads behind (the first has not even been sent) and polls for it.
      await untilPolling(rows[0]?.pid as number);
      await pool.query(APPEND_CALL, planParams(first));
      await sent;
    } finally {
      client.release();
    }
    for (const w of workspaces) expect(await seqs(w)).toEqual(Array.from({ length: 8 }, (_, i) => i + 1));
    const { rows } = await pool.query<{ seq: string }>("select seq from audit_head where workspace_id = any($1::uuid[])", [workspaces]);
    expect(rows.map((r) => Number(r.seq))).toEqual([8, 8]);
  });

  it("a batch chained ahead of heads that never come (its predecessor failed) gives up with TK409 and writes nothing", async () => {
    const workspaces = [randomUUID()];
    const zero = plan(workspaces, 3, new Map());
    await pool.query(APPEND_CALL, planParams(zero));
    const lost = plan(workspaces, 2, after(zero)); // never written, as if it had rolled back
    const orphan = plan(workspaces, 2, after(lost));
    const outcome = await pool.query(APPEND_CALL, planParams(orphan)).then(
      () => "committed",
      (thrown: { code?: string }) => thrown.code,
    );
    expect(outcome).toBe(STALE_CHAIN);
    expect(await seqs(workspaces[0] as string)).toEqual([1, 2, 3]);
  });

  it("a batch chained on a head that moved elsewhere fails at once with TK409 (no wait) and writes nothing", async () => {
    const workspaces = [randomUUID()];
    const zero = plan(workspaces, 3, new Map());
    await pool.query(APPEND_CALL, planParams(zero));
    const forked = plan(workspaces, 2, new Map()); // chained on the empty chain: the head is ahead of it
    const outcome = await pool.query(APPEND_CALL, planParams(forked)).then(
      () => "committed",
      (thrown: { code?: string }) => thrown.code,
    );
    expect(outcome).toBe(STALE_CHAIN);
    expect(await seqs(workspaces[0] as string)).toEqual([1, 2, 3]);
  });
});

describe("array parameters built by planParams", () => {
  it("carry ids, actions and keys with quotes, backslashes, braces, commas, NULL and non-ASCII through unchanged", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), batch: { lingerMs: 5 } });
    const workspaceId = randomUUID();
    const nasty = ['a"b', "c\\d", "{e,f}", "NULL", " g ", "h\u001ei", "ü😀", 'j\\"k', "l,m", "()"];
    const receipts = await Promise.all(
      nasty.map((id, i) =>
        audit.append({ workspaceId, actor: { type: id, id }, action: "journey.updated", idempotencyKey: `${id}#${i}`, targets: [{ type: id, id }] }),
      ),
    );
    for (const r of receipts) expect(r.isOk() ? "ok" : r.error.message).toBe("ok");
    const { rows } = await pool.query<{ actor_type: string; actor_id: string; idempotency_key: string; targets: string[] }>(
      "select actor_type, actor_id, idempotency_key, targets from audit_entry where workspace_id = $1 order by seq",
      [workspaceId],
    );
    expect(rows.map((r) => r.actor_id).sort()).toEqual([...nasty].sort());
    for (const row of rows) {
      expect(row.actor_type).toBe(row.actor_id);
      expect(row.idempotency_key.startsWith(`${row.actor_id}#`)).toBe(true);
      expect(row.targets).toEqual([`${row.actor_id}:${row.actor_id}`]);
    }
    // The same keys again are duplicates (found through the idempotency table the key array fills).
    const again = await audit.append({ workspaceId, actor: { type: "x", id: "x" }, action: "journey.updated", idempotencyKey: `${nasty[0]}#0` });
    expect(again._unsafeUnwrap().duplicate).toBe(true);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: nasty.length });
    await audit.close();
  });
});
