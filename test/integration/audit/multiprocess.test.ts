import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuditLogger } from "../../../src/audit/logger.js";
import { migrateAuditTables } from "../../../src/audit/postgres.js";
import { PostgresAuditStore } from "../../../src/audit/postgres/store.js";
import { toSqlClient } from "../../../src/core/postgres/sql-client.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { bundleAppender, startAppender } from "./support/spawn.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
let script: string;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_audit_procs");
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on("error", () => undefined);
  (await migrateAuditTables(pool))._unsafeUnwrap();
  script = await bundleAppender();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe("4 processes appending to the same workspace at once", () => {
  it("produce one unbroken chain: no fork, no gap, no duplicate, every ack distinct", async () => {
    const shared = randomUUID();
    const others = [randomUUID(), randomUUID()];
    const PER_PROCESS = 600;
    // Each process writes mostly to the shared workspace and some to its own, so batches
    // lock several heads at once (in a consistent order) while contending on one.
    const runs = Array.from({ length: 4 }, (_, p) =>
      startAppender(script, {
        url: database.url,
        workspaces: p % 2 === 0 ? [shared, shared, others[0] as string] : [shared, shared, others[1] as string],
        tag: `p${p}`,
        inFlight: 24,
        total: PER_PROCESS,
        waitForGo: true,
      }),
    );
    await Promise.all(runs.map((r) => r.ready));
    for (const r of runs) r.child.stdin?.write("go\n");
    const codes = await Promise.all(runs.map((r) => r.exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    for (const r of runs) expect(r.errors).toEqual([]);

    const audit = new AuditLogger({ store: new PostgresAuditStore(toSqlClient(pool) as never) });
    for (const workspaceId of [shared, ...others]) {
      const acks = runs.flatMap((r) => [...r.acked.values()].filter(([w]) => w === workspaceId).map(([, seq]) => seq));
      const expected = workspaceId === shared ? 4 * (PER_PROCESS * 2) / 3 : 2 * PER_PROCESS / 3;
      expect(acks.length).toBe(expected);
      expect(new Set(acks).size).toBe(acks.length); // no two appends got the same seq
      expect(Math.max(...acks)).toBe(acks.length); // and together they fill 1..n
      const { rows } = await pool.query<{ seq: string; prev_hash: Buffer; hash: Buffer }>(
        "select seq, prev_hash, hash from audit_entry where workspace_id = $1 order by seq",
        [workspaceId],
      );
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
      rows.forEach((row, i) => {
        if (i > 0) expect(row.prev_hash.equals(rows[i - 1]?.hash as Buffer)).toBe(true); // one chain, no fork
      });
      const report = (await audit.verify({ workspaceId }))._unsafeUnwrap();
      expect(report).toMatchObject({ ok: true, damage: null, entries: expected });
    }
    const { rows: ids } = await pool.query<{ n: string; d: string }>(
      "select count(*) as n, count(distinct body) as d from audit_entry",
    );
    expect(Number(ids[0]?.n)).toBe(4 * PER_PROCESS);
    expect(Number(ids[0]?.d)).toBe(4 * PER_PROCESS); // every event stored once
    console.log(`[audit multiprocess] 4 processes x ${PER_PROCESS} appends: one gapless chain of ${4 * PER_PROCESS * 2 / 3} on the shared workspace`);
  });
});
