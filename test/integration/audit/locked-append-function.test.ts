import { randomUUID } from "node:crypto";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { EMPTY_HEAD, type ChainHead, type KnownKey } from "../../../src/audit/chain.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { planChain } from "../../../src/audit/postgres/chain-plan.js";
import { LOCKED_APPEND_CALL } from "../../../src/audit/postgres/locked-append-function.js";
import { lockedParams } from "../../../src/audit/postgres/locked-params.js";
import type { PreparedEvent } from "../../../src/audit/event.js";
import { DEFAULT_LIMITS, prepareEvent } from "../../../src/audit/validate.js";
import { systemClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { auditFunctionDatabase } from "./support/database.js";

/*
 * audit_append_locked: the batch append that takes the head locks first and chains in
 * Postgres. Its chains must be the ones Node builds (verify recomputes them in Node).
 */
const servers = inject("servers");
let database: Awaited<ReturnType<typeof auditFunctionDatabase>>;
let pool: pg.Pool;
const random = seededRandom(23);

beforeAll(async () => {
  database = await auditFunctionDatabase(servers.postgresUrl, "tk_audit_locked");
  pool = database.pool;
});
afterAll(async () => {
  await database.drop();
});

interface Row {
  kind: "entry" | "head";
  i: number;
  seq: number;
  hash: Buffer;
  recorded_at_ms: number;
  flag: boolean;
}

function prepared(workspaceId: string, i: number, extra: { id?: string; key?: string | null } = {}): PreparedEvent {
  const id = extra.id ?? `m${i}`;
  return prepareEvent(
    {
      workspaceId,
      actor: { type: "member", id, display: `${id}@example.com` },
      action: "journey.updated",
      targets: [{ type: "journey", id }],
      metadata: { i, id },
      ...(extra.key ? { idempotencyKey: extra.key } : {}),
    },
    DEFAULT_LIMITS,
    systemClock,
    random,
  )._unsafeUnwrap();
}

async function headsOf(workspaces: readonly string[]): Promise<Map<string, ChainHead>> {
  const { rows } = await pool.query<{ w: string; seq: string; hash: Buffer; ms: string }>(
    "select workspace_id::text as w, seq, hash, recorded_at_ms as ms from audit_head where workspace_id = any($1::uuid[])",
    [workspaces],
  );
  return new Map(rows.map((r) => [r.w, { seq: Number(r.seq), hash: r.hash, recordedAtMs: Number(r.ms) }]));
}

async function keysOf(workspaces: readonly string[]): Promise<Map<string, Map<string, KnownKey>>> {
  const { rows } = await pool.query<{ w: string; key: string; seq: string; hash: Buffer; ms: string }>(
    "select workspace_id::text as w, key, seq, hash, recorded_at_ms as ms from audit_idempotency where workspace_id = any($1::uuid[])",
    [workspaces],
  );
  const out = new Map<string, Map<string, KnownKey>>();
  for (const r of rows) {
    if (!out.has(r.w)) out.set(r.w, new Map());
    out.get(r.w)?.set(r.key, { seq: Number(r.seq), hash: r.hash, recordedAtMs: Number(r.ms) });
  }
  return out;
}

async function locked(events: readonly PreparedEvent[], nowMs: number, believed: ReadonlyMap<string, ChainHead> = new Map()): Promise<Row[]> {
  const { params } = lockedParams(events, nowMs, (w) => believed.get(w) ?? EMPTY_HEAD);
  return (await pool.query<Row>(LOCKED_APPEND_CALL, params)).rows;
}

describe("audit_append_locked", () => {
  it("chains exactly as Node does: same seqs, hashes, recorded-at and duplicates, over random batches (property)", async () => {
    const tricky = ['a"b', "c\\d", "{e,f}", "NULL", "ü😀", "h,i", "()", "x"];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ w: fc.nat(2), id: fc.constantFrom(...tricky), key: fc.option(fc.constantFrom("k1", "k2", "k3"), { freq: 3 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        // A clock up to 5 s behind the heads (recorded-at then stays at the head's): never ahead, which
        // could reach a month whose partition this test did not create.
        fc.integer({ min: -5_000, max: 0 }),
        async (specs, skewMs) => {
          const workspaces = [randomUUID(), randomUUID(), randomUUID()];
          // Some history first (a key among it), so heads and stored keys exist.
          await locked([prepared(workspaces[0] as string, 0, { key: "k1" }), prepared(workspaces[1] as string, 1)], Date.now());
          const events = specs.map((s, i) => prepared(workspaces[s.w] as string, i, { id: s.id, key: s.key }));
          // Node's chain on the heads and keys as they are now, at the same clock (which may be behind a head).
          const nowMs = Date.now() + skewMs;
          const heads = await headsOf(workspaces);
          const known = await keysOf(workspaces);
          const node = planChain(events, nowMs, (w) => heads.get(w), known);
          const rows = await locked(events, nowMs, heads);
          const entries = rows.filter((r) => r.kind === "entry").sort((a, b) => a.i - b.i);
          expect(entries).toHaveLength(events.length);
          entries.forEach((row, k) => {
            const o = node.outcomes[k];
            expect({ seq: Number(row.seq), hash: Buffer.from(row.hash).toString("hex"), ms: Number(row.recorded_at_ms), dup: row.flag }).toEqual({
              seq: o?.seq,
              hash: Buffer.from(o?.hash as Uint8Array).toString("hex"),
              ms: o?.recordedAtMs,
              dup: o?.duplicate,
            });
          });
          // The stored rows are Node's entries: body, previous hash and hash.
          const { rows: stored } = await pool.query<{ w: string; seq: string; prev_hash: Buffer; hash: Buffer; body: string }>(
            "select workspace_id::text as w, seq, prev_hash, hash, body from audit_entry where workspace_id = any($1::uuid[])",
            [workspaces],
          );
          const byKey = new Map(stored.map((r) => [`${r.w}:${Number(r.seq)}`, r]));
          for (const e of node.entries) {
            const r = byKey.get(`${e.workspaceId}:${e.seq}`);
            expect(r?.body).toBe(e.body);
            expect(r?.prev_hash.equals(Buffer.from(e.prevHash))).toBe(true);
            expect(r?.hash.equals(Buffer.from(e.hash))).toBe(true);
          }
          // The heads and the stored keys are Node's, field for field, and every workspace reports
          // it was where the caller believed.
          const after = await headsOf(workspaces);
          node.workspaces.forEach((w, i) => {
            const head = node.after[i] as ChainHead;
            expect(after.get(w)).toEqual({ seq: head.seq, hash: Buffer.from(head.hash), recordedAtMs: head.recordedAtMs });
            const row = rows.find((r) => r.kind === "head" && r.i === i + 1);
            expect({ seq: Number(row?.seq), hash: Buffer.from(row?.hash as Buffer), ms: Number(row?.recorded_at_ms), moved: row?.flag }).toEqual({
              seq: head.seq,
              hash: Buffer.from(head.hash),
              ms: head.recordedAtMs,
              moved: false,
            });
          });
          const keysAfter = await keysOf(workspaces);
          for (const e of node.entries) {
            if (e.idempotencyKey === null) continue;
            expect(keysAfter.get(e.workspaceId)?.get(e.idempotencyKey)).toEqual({ seq: e.seq, hash: Buffer.from(e.hash), recordedAtMs: e.recordedAtMs });
          }
          const audit = new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap() });
          for (const workspaceId of workspaces) expect((await audit.verify({ workspaceId }))._unsafeUnwrap()).toMatchObject({ ok: true });
        },
      ),
      { numRuns: 40 },
    );
  });

  it("waits for a head row another transaction is still creating, then chains on it", async () => {
    const workspaceId = randomUUID();
    const creator = await pool.connect();
    const second = await pool.connect();
    let sent: Promise<pg.QueryResult<Row>> | undefined;
    try {
      await creator.query("begin");
      // Creates the head row (and two entries), uncommitted.
      const first = lockedParams([prepared(workspaceId, 0), prepared(workspaceId, 1)], Date.now(), () => EMPTY_HEAD);
      await creator.query(LOCKED_APPEND_CALL, first.params);
      const { rows: pid } = await second.query<{ pid: number }>("select pg_backend_pid() as pid");
      let settled = false;
      const next = lockedParams([prepared(workspaceId, 2)], Date.now(), () => EMPTY_HEAD);
      sent = second.query<Row>(LOCKED_APPEND_CALL, next.params).finally(() => {
        settled = true;
      });
      // Either the second waits on the creator's uncommitted head row, or (the bug) it has already answered.
      for (;;) {
        const { rows } = await pool.query<{ wait_event_type: string | null }>("select wait_event_type from pg_stat_activity where pid = $1", [pid[0]?.pid]);
        if (settled || rows[0]?.wait_event_type === "Lock") break;
        await new Promise((r) => setImmediate(r));
      }
      expect(settled).toBe(false);
      await creator.query("commit");
      const { rows } = await sent;
      expect(rows.find((r) => r.kind === "entry")?.seq).toBe(3);
      // It believed the empty chain, so it reports the head moved.
      expect(rows.find((r) => r.kind === "head")?.flag).toBe(true);
    } finally {
      await creator.query("rollback").catch(() => undefined);
      creator.release();
      await sent?.catch(() => undefined);
      second.release();
    }
    const report = await new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap() }).verify({ workspaceId });
    expect(report._unsafeUnwrap()).toMatchObject({ ok: true, entries: 3 });
  });

  it("keeps the head of a workspace whose events were all duplicates as it was, recorded-at included", async () => {
    const workspaceId = randomUUID();
    const history = await locked([prepared(workspaceId, 0, { key: "once" })], Date.now() - 60_000);
    const before = (await headsOf([workspaceId])).get(workspaceId);
    const rows = await locked([prepared(workspaceId, 1, { key: "once" })], Date.now(), new Map([[workspaceId, before as ChainHead]]));
    const entry = rows.find((r) => r.kind === "entry");
    expect(entry?.flag).toBe(true);
    expect(Number(entry?.seq)).toBe(Number(history.find((r) => r.kind === "entry")?.seq));
    const head = rows.find((r) => r.kind === "head");
    expect({ seq: Number(head?.seq), hash: Buffer.from(head?.hash as Buffer), recordedAtMs: Number(head?.recorded_at_ms) }).toEqual(before);
    expect(head?.flag).toBe(false);
    expect((await headsOf([workspaceId])).get(workspaceId)).toEqual(before);
  });

  it("refuses to chain when a head row vanishes between its creation and its lock, and writes nothing", async () => {
    const workspaceId = randomUUID();
    // A trigger stands in for an operator deleting the head row right after the function created it.
    await pool.query(`create function tk_vanish() returns trigger language plpgsql as $$
      begin delete from audit_head where workspace_id = new.workspace_id; return null; end $$`);
    await pool.query("create trigger tk_vanish after insert on audit_head for each row execute function tk_vanish()");
    try {
      const outcome = await locked([prepared(workspaceId, 0)], Date.now()).then(
        () => "written",
        (thrown: Error) => thrown.message,
      );
      expect(outcome).toMatch(/audit head of workspace .* vanished/);
    } finally {
      await pool.query("drop trigger tk_vanish on audit_head; drop function tk_vanish()");
    }
    const { rows } = await pool.query("select 1 from audit_entry where workspace_id = $1", [workspaceId]);
    expect(rows).toHaveLength(0);
  });

  it("writes on the head as it is when the caller believed one ahead of it (a batch of its that never came), reporting it moved", async () => {
    const workspaceId = randomUUID();
    await locked([prepared(workspaceId, 0), prepared(workspaceId, 1)], Date.now());
    const believedAhead = new Map([[workspaceId, { seq: 9, hash: new Uint8Array(32).fill(7), recordedAtMs: Date.now() }]]);
    const rows = await locked([prepared(workspaceId, 2)], Date.now(), believedAhead);
    expect(rows.find((r) => r.kind === "entry")?.seq).toBe(3);
    expect(rows.find((r) => r.kind === "head")?.flag).toBe(true);
    const report = await new AuditLogger({ store: postgresAuditStore(pool)._unsafeUnwrap() }).verify({ workspaceId });
    expect(report._unsafeUnwrap()).toMatchObject({ ok: true, entries: 3 });
  });
});

describe("the audit migration on a database from an earlier release", () => {
  it("drops both earlier audit_append_chained versions, keeps the current one in place, and is idempotent", async () => {
    const upgrade = await createTestDatabase(servers.postgresUrl, "tk_audit_upgrade");
    const old = new pg.Pool({ connectionString: upgrade.url, max: 2 });
    try {
      const args20 = "uuid[], bigint[], bytea, bigint[], bigint[], bytea, bigint[], int[], bigint[], bytea, bytea, text, text, text, text[], text[], text[], text[], text[], bigint[]";
      // What the two earlier releases left: table-returning functions with 20 and 21 arguments.
      await old.query(`create function audit_append_chained(${args20}) returns table (seq bigint) language sql as 'select 1::bigint'`);
      await old.query(`create function audit_append_chained(${args20}, boolean) returns table (seq bigint) language sql as 'select 1::bigint'`);
      const versions = async () =>
        (await old.query<{ sig: string; ret: string }>(
          "select oid::regprocedure::text as sig, prorettype::regtype::text as ret from pg_proc where proname in ('audit_append_chained', 'audit_append_locked') order by 1",
        )).rows;
      (await migrateAuditTables(old))._unsafeUnwrap();
      const first = await versions();
      expect(first.map((v) => v.sig.split("(")[0])).toEqual(["audit_append_chained", "audit_append_locked"]);
      expect(first[0]?.ret).toBe("void");
      expect(first[0]?.sig.split(",")).toHaveLength(20);
      const oid = (await old.query<{ oid: number }>("select oid::int from pg_proc where proname = 'audit_append_chained'")).rows[0]?.oid;
      (await migrateAuditTables(old))._unsafeUnwrap();
      expect(await versions()).toEqual(first);
      // Replaced in place, not dropped and re-created: appends running meanwhile keep their function.
      expect((await old.query<{ oid: number }>("select oid::int from pg_proc where proname = 'audit_append_chained'")).rows[0]?.oid).toBe(oid);
      const audit = new AuditLogger({ store: postgresAuditStore(old)._unsafeUnwrap() });
      const workspaceId = randomUUID();
      expect((await audit.append({ workspaceId, actor: { type: "system", id: "s" }, action: "job.ran" }))._unsafeUnwrap().seq).toBe(1);
      await audit.close();
    } finally {
      await old.end();
      await upgrade.drop();
    }
  });
});
