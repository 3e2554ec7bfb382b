import { randomUUID } from "node:crypto";
import pg from "pg";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuditLogger } from "../../../src/audit/logger.js";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import { APPEND_CALL } from "../../../src/audit/postgres/append-function.js";
import { QUIET_LOCKED_WRITES } from "../../../src/audit/postgres/batch-writer.js";
import { LOCKED_APPEND_CALL } from "../../../src/audit/postgres/locked-append-function.js";
import { ManualClock } from "../../../src/core/clock.js";
import { toSqlClient, type SqlClient, type SqlExecutor } from "../../../src/core/postgres/sql-client.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const signer = signerFromSeed(new Uint8Array(32).fill(11));

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_audit_pg");
  pool = new pg.Pool({ connectionString: database.url, max: 6 });
  pool.on("error", () => undefined);
  (await migrateAuditTables(pool))._unsafeUnwrap();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

function logger(clock?: ManualClock): AuditLogger {
  return new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), signer, ...(clock ? { clock } : {}) });
}

async function chainOf(audit: AuditLogger, n: number): Promise<string> {
  const workspaceId = randomUUID();
  for (let i = 0; i < n; i++) {
    (await audit.append({ workspaceId, actor: { type: "member", id: `m${i % 3}` }, action: "journey.updated", metadata: { i } }))._unsafeUnwrap();
  }
  return workspaceId;
}

describe("group commit on Postgres 15", () => {
  it("commits 400 concurrent appends in far fewer transactions, each visible when its append resolves", async () => {
    const audit = logger();
    const workspaceId = randomUUID();
    const visibleOnResolve: boolean[] = [];
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const receipt = (await audit.append({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i } }))._unsafeUnwrap();
        if (i % 20 === 0) {
          const { rows } = await pool.query("select 1 from audit_entry where workspace_id = $1 and seq = $2", [workspaceId, receipt.seq]);
          visibleOnResolve.push(rows.length === 1);
        }
      }),
    );
    expect(visibleOnResolve).toEqual(Array.from({ length: 20 }, () => true));
    // Every transaction has its own xid: distinct xmin = number of commits that wrote these rows.
    const { rows } = await pool.query<{ n: string; tx: string }>(
      "select count(*) as n, count(distinct xmin::text) as tx from audit_entry where workspace_id = $1",
      [workspaceId],
    );
    expect(Number(rows[0]?.n)).toBe(400);
    expect(Number(rows[0]?.tx)).toBeLessThanOrEqual(40);
    await audit.close();
  });
});

describe("batches chained in Node on remembered heads", () => {
  it("two loggers taking turns on one workspace (each one's remembered head always stale) keep one gapless chain and one copy per key", async () => {
    const a = logger();
    const b = logger();
    const workspaceId = randomUUID();
    const receipts: number[] = [];
    for (let i = 0; i < 30; i++) {
      const audit = i % 2 === 0 ? a : b;
      const batch = await Promise.all(
        [0, 1, 2].map((j) =>
          audit.append({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i, j }, idempotencyKey: `k${Math.floor(i / 2)}-${j}` }),
        ),
      );
      for (const r of batch) {
        const receipt = r._unsafeUnwrap();
        // Each key is written by the first logger that has it and found by the other.
        expect(receipt.duplicate).toBe(i % 2 === 1);
        if (!receipt.duplicate) receipts.push(receipt.seq);
      }
      // A fresh event from the other logger too, so the heads move under both.
      (await (i % 2 === 0 ? b : a).append({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i } }))._unsafeUnwrap();
    }
    const { rows } = await pool.query<{ seq: string }>("select seq from audit_entry where workspace_id = $1 order by seq", [workspaceId]);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 15 * 3 + 30 }, (_, i) => i + 1));
    expect((await a.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 75 });
    await a.close();
    await b.close();
  });
});

describe("several batches of one logger in flight at once (batch.maxInFlight 4)", () => {
  it("while another logger writes the same workspaces: every append succeeds, chains stay gapless and verify", async () => {
    const busy = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap(), batch: { maxInFlight: 4, lingerMs: 0, maxRows: 8 } });
    const other = logger();
    const workspaces = [randomUUID(), randomUUID()];
    const append = (audit: AuditLogger, i: number) =>
      audit.append({ workspaceId: workspaces[i % 2] as string, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i } });
    const results = await Promise.all([
      ...Array.from({ length: 160 }, (_, i) => append(busy, i)),
      ...Array.from({ length: 40 }, (_, i) => append(other, i)),
    ]);
    for (const r of results) expect(r.isOk() ? "ok" : r.error.message).toBe("ok");
    for (const workspaceId of workspaces) {
      expect((await busy.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 100 });
    }
    await busy.close();
    await other.close();
  });
});

describe("a batch Postgres aborts as a deadlock victim (SQLSTATE 40P01)", () => {
  /**
   * The pool's client, whose next `arm(n)` batch-append statements fail as Postgres' deadlock
   * victims do (unsent, so unwritten); `calls()` lists every batch-append statement: "write"
   * (chained in Node), "locked" (chained in Postgres under the head locks) or "victim".
   */
  function deadlocking(): {
    sql: SqlClient;
    arm: (victims: number) => void;
    calls: () => string[];
    failed: () => string[];
    /** Per batch-append statement sent, its workspaces. */
    workspaces: () => string[][];
  } {
    const real = toSqlClient(pool) as SqlClient;
    const calls: string[] = [];
    const sent: string[][] = [];
    const failed: string[] = [];
    let armed = 0;
    const victimOr = (executor: SqlExecutor): SqlExecutor["query"] =>
      ((text: string, params?: readonly unknown[]) => {
        if (text !== APPEND_CALL && text !== LOCKED_APPEND_CALL) return executor.query(text, params);
        if (armed > 0) {
          armed -= 1;
          calls.push("victim");
          return Promise.reject(Object.assign(new Error("deadlock detected"), { code: "40P01" }));
        }
        calls.push(text === APPEND_CALL ? "write" : "locked");
        sent.push(String(params?.[0]).match(/[0-9a-f-]{36}/g) ?? []);
        return executor.query(text, params).catch((thrown: { code?: string }) => {
          failed.push(String(thrown.code));
          throw thrown;
        });
      }) as SqlExecutor["query"];
    const sql: SqlClient = {
      kind: real.kind,
      exec: (text) => real.exec(text),
      query: victimOr(real),
      transaction: (fn) => real.transaction((tx) => fn({ query: victimOr(tx) })),
    };
    return { sql, arm: (victims) => void (armed = victims), calls: () => [...calls], failed: () => [...failed], workspaces: () => [...sent] };
  }
  const event = (workspaceId: string, i: number) => ({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { i } });

  it("on the one-statement path, is written the locked way at once (sent the same way again, it would collide again)", async () => {
    const { sql, arm, calls } = deadlocking();
    const audit = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap() });
    const workspaceId = randomUUID();
    expect((await audit.append(event(workspaceId, 0)))._unsafeUnwrap().seq).toBe(1); // the logger knows the head
    arm(1);
    expect((await audit.append(event(workspaceId, 1)))._unsafeUnwrap().seq).toBe(2);
    expect(calls()).toEqual(["write", "victim", "locked"]);
    // The locked write found the head where this logger left it (no other writer): back to the one-statement way.
    expect((await audit.append(event(workspaceId, 2)))._unsafeUnwrap().seq).toBe(3);
    expect(calls().slice(3)).toEqual(["write"]);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 3 });
    await audit.close();
  });

  it("when another logger moved the head, keeps the workspace on the locked way until QUIET_LOCKED_WRITES locked writes find it unmoved", async () => {
    const { sql, calls, failed } = deadlocking();
    const audit = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap() });
    const other = logger();
    const workspaceId = randomUUID();
    (await audit.append(event(workspaceId, 0)))._unsafeUnwrap();
    (await other.append(event(workspaceId, 1)))._unsafeUnwrap();
    for (let i = 0; i <= QUIET_LOCKED_WRITES; i++) (await audit.append(event(workspaceId, 2 + i)))._unsafeUnwrap();
    // The stale write, the locked write that found the head moved, then QUIET_LOCKED_WRITES quiet ones.
    expect(calls()).toEqual(["write", "write", ...Array.from({ length: 1 + QUIET_LOCKED_WRITES }, () => "locked")]);
    expect(failed()).toEqual(["TK409"]);
    (await audit.append(event(workspaceId, 99)))._unsafeUnwrap();
    expect(calls().at(-1)).toBe("write");
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: QUIET_LOCKED_WRITES + 4 });
    await audit.close();
    await other.close();
  });

  it("is not made of this process's own batches: a locked write waits for the one-statement batches already sent", async () => {
    // One millisecond for everyone, so entries of equal seq have equal primary keys and collide.
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { sql, failed } = deadlocking();
    const busy = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap(), clock, batch: { maxInFlight: 2, lingerMs: 0, maxRows: 3 } });
    const other = logger(clock);
    const workspaceId = randomUUID();
    (await busy.append(event(workspaceId, 0)))._unsafeUnwrap(); // busy remembers head 1
    (await other.append(event(workspaceId, 1)))._unsafeUnwrap(); // the head moves to 2 behind its back
    // Batch A (3 events chained on 1) is stale and is written the locked way on 2: seqs 3-5.
    // Batch B (3 events chained on A's 4), sent while A was in flight, inserted seqs 5-7 and waits for A's
    // head to appear. Had A taken the locks then, each would wait for the other until Postgres broke the
    // cycle a second later.
    const results = await Promise.all([2, 3, 4, 5, 6, 7].map((i) => busy.append(event(workspaceId, i))));
    for (const r of results) expect(r.isOk() ? "ok" : r.error.message).toBe("ok");
    expect(failed()).not.toContain("40P01");
    expect((await busy.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 8 });
    await busy.close();
    await other.close();
  });

  it("under contention, a logger tries the one-statement way once, then writes the locked way: two loggers taking turns", async () => {
    // Before, each logger's every batch was chained in Node on a head the other had just moved: it
    // inserted its rows, waited for the locks, found the head moved and rolled back, then was written
    // again. Four processes sharing workspaces measured about 1.5k appends/s against 21k/s for one.
    const one = deadlocking();
    const two = deadlocking();
    const a = new AuditLogger({ store: postgresAuditStore(one.sql)._unsafeUnwrap() });
    const b = new AuditLogger({ store: postgresAuditStore(two.sql)._unsafeUnwrap() });
    const workspaceId = randomUUID();
    for (let i = 0; i < 20; i++) {
      expect((await a.append(event(workspaceId, 2 * i)))._unsafeUnwrap().seq).toBe(2 * i + 1);
      expect((await b.append(event(workspaceId, 2 * i + 1)))._unsafeUnwrap().seq).toBe(2 * i + 2);
    }
    // a's first write finds nothing moved; its second finds b's entry and fails; b's first finds a's.
    expect(one.calls()).toEqual(["write", "write", ...Array.from({ length: 19 }, () => "locked")]);
    expect(two.calls()).toEqual(["write", ...Array.from({ length: 20 }, () => "locked")]);
    expect(one.failed()).toEqual(["TK409"]);
    expect(two.failed()).toEqual(["TK409"]);
    expect((await a.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 40 });
    await a.close();
    await b.close();
  });

  it("once the other writer stops, a busy logger (two batches in flight) goes back to the one-statement way", async () => {
    const { sql, calls, failed } = deadlocking();
    const busy = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap(), batch: { maxInFlight: 2, lingerMs: 0, maxRows: 8 } });
    const other = logger();
    const workspaceId = randomUUID();
    (await busy.append(event(workspaceId, 0)))._unsafeUnwrap();
    (await other.append(event(workspaceId, 1)))._unsafeUnwrap(); // busy's head is stale now
    const results = await Promise.all(Array.from({ length: 240 }, (_, i) => busy.append(event(workspaceId, 2 + i))));
    for (const r of results) expect(r.isOk() ? "ok" : r.error.message).toBe("ok");
    // The stale batch (and one chained on it) failed and went the locked way; once QUIET_LOCKED_WRITES
    // locked writes in a row found the head where busy left it, the rest went the one-statement way again.
    expect(failed().length).toBeLessThanOrEqual(2);
    const all = calls();
    const locked = all.filter((c) => c === "locked").length;
    expect(locked).toBeGreaterThanOrEqual(QUIET_LOCKED_WRITES);
    expect(locked).toBeLessThanOrEqual(QUIET_LOCKED_WRITES + 2);
    expect(all.slice(-10)).toEqual(Array.from({ length: 10 }, () => "write"));
    expect((await busy.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 242 });
    await busy.close();
    await other.close();
  });

  it("a contended workspace's events are written apart from the others', and the parts queued meanwhile in one locked write", async () => {
    const { sql, calls, workspaces: sent } = deadlocking();
    const audit = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const other = logger();
    const shared = randomUUID();
    const own = [randomUUID(), randomUUID(), randomUUID()];
    (await audit.append(event(shared, 0)))._unsafeUnwrap();
    (await other.append(event(shared, 1)))._unsafeUnwrap();
    (await audit.append(event(shared, 2)))._unsafeUnwrap(); // stale, then locked: the head moved, so shared is contended
    const before = calls().length;
    // Another transaction holds the shared head, so the next locked write waits in Postgres.
    const holder = await pool.connect();
    await holder.query("begin");
    await holder.query("select 1 from audit_head where workspace_id = $1 for update", [shared]);
    const first = audit.append(event(shared, 3));
    await sleep(20);
    // Three batches in turn, each mixing one shared event with one of another workspace: the other
    // workspace's event commits at once, the shared one queues behind the held locked write.
    const queued: ReturnType<AuditLogger["append"]>[] = [];
    for (let k = 0; k < 3; k++) {
      queued.push(audit.append(event(shared, 10 + k)));
      const mine = audit.append(event(own[k] as string, k));
      const timer = new AbortController();
      const stuck = sleep(5_000, "stuck", { signal: timer.signal }).catch(() => "stuck");
      const outcome = await Promise.race([mine.then((r) => (r.isOk() ? "committed" : r.error.message)), stuck]);
      timer.abort();
      expect(outcome).toBe("committed");
    }
    await holder.query("commit");
    holder.release();
    (await first)._unsafeUnwrap();
    for (const r of await Promise.all(queued)) expect(r.isOk() ? "ok" : r.error.message).toBe("ok");
    const after = calls().slice(before);
    const afterSent = sent().slice(before);
    // No one-statement write touched the shared workspace, and no locked write touched the others.
    after.forEach((kind, i) => {
      if (kind === "write") expect(afterSent[i]).not.toContain(shared);
      else expect(afterSent[i]).toEqual([shared]);
    });
    // The first locked write (held), then one for the three parts queued behind it.
    expect(after.filter((c) => c === "locked")).toHaveLength(2);
    expect((await audit.verify({ workspaceId: shared }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 7 });
    await audit.close();
    await other.close();
  });

  it("twice in a row, is written again (the store retries it), and the chain stays gapless", async () => {
    const { sql, arm } = deadlocking();
    const audit = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap() });
    const workspaceId = await chainOf(logger(), 3);
    arm(2);
    const receipts = await Promise.all([0, 1, 2].map((i) => audit.append(event(workspaceId, i))));
    expect(receipts.map((r) => (r.isOk() ? r.value.seq : r.error.message)).sort()).toEqual([4, 5, 6]);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 6 });
    await audit.close();
  });

  it("chosen as the victim every time, fails with the driver's error after a bounded number of tries and writes nothing", async () => {
    const { sql, arm, calls } = deadlocking();
    const audit = new AuditLogger({ store: postgresAuditStore(sql)._unsafeUnwrap() });
    const workspaceId = await chainOf(logger(), 2);
    arm(Number.POSITIVE_INFINITY);
    const result = await audit.append(event(workspaceId, 0));
    expect(result.isErr() && result.error.message).toMatch(/deadlock detected/);
    // The one-statement write, then the first try's locked write, then the store's five retries (locked).
    expect(calls()).toEqual(Array.from({ length: 7 }, () => "victim"));
    const { rows } = await pool.query("select seq from audit_entry where workspace_id = $1", [workspaceId]);
    expect(rows).toHaveLength(2);
    await audit.close();
  });
});

describe("tampering with rows through SQL is named at the exact seq", () => {
  const cases: [string, (w: string) => string[], string, number][] = [
    ["a body edit", (w) => [`update audit_entry set body = replace(body, '"i":6', '"i":60') where workspace_id = '${w}' and seq = 7`], "modified", 7],
    ["an edited query column", (w) => [`update audit_entry set actor_id = 'someone-else' where workspace_id = '${w}' and seq = 3`], "modified", 3],
    ["a deleted row", (w) => [`delete from audit_entry where workspace_id = '${w}' and seq = 7`], "deleted", 7],
    ["a deleted row with later rows renumbered", (w) => [
      `delete from audit_entry where workspace_id = '${w}' and seq = 7`,
      // In two steps through a range no row uses: a single `seq = seq - 1` can hit the unique
      // key mid-statement, depending on the order Postgres visits the rows.
      `update audit_entry set seq = seq + 1000000 where workspace_id = '${w}' and seq > 7`,
      `update audit_entry set seq = seq - 1000001 where workspace_id = '${w}' and seq > 1000000`,
    ], "deleted", 7],
    ["two rows swapped", (w) => [`update audit_entry set seq = case seq when 5 then 9 else 5 end where workspace_id = '${w}' and seq in (5, 9)`], "reordered", 5],
    ["an inserted row", (w) => [
      `insert into audit_entry select workspace_id, seq, recorded_at + interval '1 millisecond', prev_hash, hash, replace(body, '"i":6', '"i":66'), personal, idempotency_key,
       actor_type, actor_id, action, outcome, occurred_at, targets from audit_entry where workspace_id = '${w}' and seq = 7`,
    ], "inserted", 7],
    ["a truncated tail with the head row rewound too (caught by the signed checkpoint)", (w) => [
      `delete from audit_entry where workspace_id = '${w}' and seq > 12`,
      `update audit_head set seq = 12, hash = (select hash from audit_entry where workspace_id = '${w}' and seq = 12) where workspace_id = '${w}'`,
    ], "truncated", 13],
    ["a forged checkpoint", (w) => [`update audit_checkpoint set head_hash = repeat('ab', 32) where workspace_id = '${w}'`], "badSignature", 20],
  ];
  for (const [name, statements, kind, seq] of cases) {
    it(`${name} -> ${kind} at ${seq}`, async () => {
      const audit = logger();
      const workspaceId = await chainOf(audit, 20);
      (await audit.checkpoint({ workspaceId }))._unsafeUnwrap();
      expect((await audit.verify({ workspaceId }))._unsafeUnwrap().ok).toBe(true);
      for (const statement of statements(workspaceId)) await pool.query(statement);
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report.damage).toMatchObject({ kind, seq });
      await audit.close();
    });
  }
});

describe("retention by monthly partitions", () => {
  it("drops whole months, leaves signed prune records, and what remains still verifies", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 20));
    const audit = logger(clock);
    const a = randomUUID();
    const b = randomUUID();
    for (const month of [0, 1, 2]) {
      clock.set(Date.UTC(2026, month, 20));
      for (let i = 0; i < 5; i++) {
        for (const workspaceId of [a, b]) (await audit.append({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran", metadata: { month, i } }))._unsafeUnwrap();
      }
    }
    const { rows: before } = await pool.query<{ relname: string }>(
      "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit_entry'::regclass and c.relname like 'audit_entry_y2026m0%' order by 1",
    );
    expect(before.map((r) => r.relname)).toEqual(["audit_entry_y2026m01", "audit_entry_y2026m02", "audit_entry_y2026m03"]);
    const records = (await audit.prune({ before: Date.UTC(2026, 2, 1) }))._unsafeUnwrap();
    expect(records.filter((r) => r.workspaceId === a).map((r) => [r.partition, r.throughSeq])).toEqual([
      ["audit_entry_y2026m01", 5],
      ["audit_entry_y2026m02", 10],
    ]);
    for (const workspaceId of [a, b]) {
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report).toMatchObject({ ok: true, from: 11, to: 15, entries: 5, anchor: { kind: "prune", throughSeq: 10 } });
    }
    // A forged prune record (e.g. to hide a deleted row) fails its signature.
    await pool.query("update audit_prune set through_seq = 11 where workspace_id = $1 and through_seq = 10", [a]);
    expect((await audit.verify({ workspaceId: a }))._unsafeUnwrap().damage).toMatchObject({ kind: "badSignature", seq: 11 });
    await audit.close();
  });
});
