import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuditLogger } from "../../../src/audit/logger.js";
import { migrateAuditTables } from "../../../src/audit/postgres.js";
import { PostgresAuditStore } from "../../../src/audit/postgres/store.js";
import { toSqlClient } from "../../../src/core/postgres/sql-client.js";
import { seededRandom } from "../../../src/core/random.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { bundleAppender, startAppender } from "./support/spawn.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
let script: string;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_audit_crash");
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on("error", () => undefined); // idle clients dropped by "drop database … with (force)"
  (await migrateAuditTables(pool))._unsafeUnwrap();
  script = await bundleAppender();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

const KILLS = 200;
// Two independent kill streams (disjoint workspaces) run side by side: the same 200 kill points in half the wall time.
const STREAMS = 2;

interface StreamResult {
  acknowledged: number;
  stored: number;
  killedWithAcks: number;
  killedBeforeAnyAck: number;
}

async function killStream(stream: number, kills: number): Promise<StreamResult> {
  const workspaces = [randomUUID(), randomUUID()];
  const audit = new AuditLogger({ store: new PostgresAuditStore(toSqlClient(pool) as never) });
  const random = seededRandom(20261127 + stream);
  const present = new Map<string, number>(); // eventId → times seen in the chain
  const checkedTo = new Map<string, number>(workspaces.map((w) => [w, 0]));
  const acknowledged: string[] = [];
  let killedWithAcks = 0;
  let killedBeforeAnyAck = 0;

  const collectNewRows = async () => {
    for (const w of workspaces) {
      const from = (checkedTo.get(w) ?? 0) + 1;
      const report = (await audit.verify({ workspaceId: w, from }))._unsafeUnwrap();
      expect(report.damage, `chain of ${w} after a kill`).toBeNull();
      const { rows } = await pool.query<{ seq: string; body: string }>(
        "select seq, body from audit_entry where workspace_id = $1 and seq >= $2 and seq <= $3 order by seq",
        [w, from, report.to],
      );
      for (const row of rows) {
        const eventId = (JSON.parse(row.body) as { metadata: { eventId: string } }).metadata.eventId;
        present.set(eventId, (present.get(eventId) ?? 0) + 1);
      }
      checkedTo.set(w, report.to);
    }
  };

  // Warm spares (started, connected, waiting for "go") hide process start-up behind the previous run.
  const spawnSpare = (kill: number) =>
    startAppender(script, { url: database.url, workspaces, tag: `s${stream}r${kill}`, inFlight: 32, waitForGo: true });
  const spares = [spawnSpare(0), spawnSpare(1)];
  for (let kill = 0; kill < kills; kill++) {
    const run = spares.shift() as (typeof spares)[number];
    spares.push(spawnSpare(kill + 2));
    await run.ready;
    run.child.stdin?.write("go\n");
    // A random kill point: one run in eight is killed 0–7 ms after "go" (often before any ack);
    // the rest 0–31 ms after the first acknowledged append, mid-load and usually mid-batch.
    const [a = 0, b = 0] = random.bytes(2);
    if (a % 8 !== 0) await run.firstAck;
    await new Promise((r) => setTimeout(r, a % 8 === 0 ? b % 8 : b % 32));
    run.child.kill("SIGKILL");
    await run.exited;
    expect(run.errors).toEqual([]);
    if (run.acked.size > 0) killedWithAcks++;
    else killedBeforeAnyAck++;
    await collectNewRows();
    for (const eventId of run.acked.keys()) {
      expect(present.get(eventId), `acknowledged ${eventId} after kill ${kill}`).toBe(1);
      acknowledged.push(eventId);
    }
  }
  for (const spare of spares) spare.child.kill("SIGKILL");
  await Promise.all(spares.map((spare) => spare.exited));
  // A transaction whose COMMIT was in flight at a kill may land after our read: settle, then read once more.
  await new Promise((r) => setTimeout(r, 200));
  await collectNewRows();
  for (const w of workspaces) {
    const full = (await audit.verify({ workspaceId: w }))._unsafeUnwrap();
    expect(full.damage).toBeNull();
    expect(full.to).toBe(checkedTo.get(w));
    const { rows } = await pool.query<{ n: string; max: string; distinct: string }>(
      "select count(*) as n, max(seq) as max, count(distinct seq) as distinct from audit_entry where workspace_id = $1",
      [w],
    );
    expect(Number(rows[0]?.n)).toBe(Number(rows[0]?.max)); // gapless 1..max
    expect(Number(rows[0]?.distinct)).toBe(Number(rows[0]?.n)); // no duplicate seq
  }
  expect([...present].filter(([, n]) => n !== 1)).toEqual([]); // no event stored twice, acked or not
  for (const eventId of acknowledged) expect(present.get(eventId)).toBe(1);
  await audit.close();
  return { acknowledged: acknowledged.length, stored: present.size, killedWithAcks, killedBeforeAnyAck };
}

describe("crash durability: SIGKILL of an appending process", () => {
  it(`keeps every acknowledged event exactly once and the chain verifiable across ${KILLS} random kill points`, async () => {
    const results = await Promise.all(Array.from({ length: STREAMS }, (_, s) => killStream(s, KILLS / STREAMS)));
    const sum = (k: keyof StreamResult) => results.reduce((total, r) => total + r[k], 0);
    expect(sum("killedWithAcks") + sum("killedBeforeAnyAck")).toBe(KILLS);
    expect(sum("killedWithAcks")).toBeGreaterThan(KILLS * 0.75);
    console.log(
      `[audit crash] ${KILLS} SIGKILLs (${sum("killedWithAcks")} after acks, ${sum("killedBeforeAnyAck")} before any), ` +
        `${sum("acknowledged")} acknowledged events all present once, ${sum("stored")} stored in total, chains verify`,
    );
  });
});
