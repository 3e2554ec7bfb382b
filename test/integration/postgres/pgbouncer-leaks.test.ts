import { randomUUID } from "node:crypto";
import { ok } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import { tablePolicyStatements } from "../../../src/postgres/migration.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { startPgBouncer, type PgBouncerServer } from "../../support/pgbouncer-server.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
const TRANSACTIONS = 10_000;
const CONCURRENCY = 8;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let bouncer: PgBouncerServer;
let admin: pg.Pool;
let pool: pg.Pool;
const app = `tk_bouncer_${Math.random().toString(36).slice(2, 8)}`;
const A = randomUUID();
const B = randomUUID();

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_pg_bouncer");
  admin = new pg.Pool({ connectionString: database.url, max: 1 });
  admin.on("error", () => undefined); // the forced database drop at the end terminates idle connections
  await applyFixtureSchema(admin);
  for (const s of tablePolicyStatements({ name: "Segment", column: "workspaceId" })) await admin.query(s);
  await admin.query(`create role ${app} login nosuperuser nobypassrls; grant usage on schema public to ${app}; grant select on "Segment" to ${app}`);
  await admin.query(`insert into "Workspace" (id, name) values ($1, 'A'), ($2, 'B')`, [A, B]);
  await admin.query(`insert into "Segment" ("workspaceId", name) select w, 's' || g from unnest($1::uuid[]) w, generate_series(1, 5) g`, [[A, B]]);
  const postgresPort = Number(new URL(servers.postgresUrl).port);
  bouncer = await startPgBouncer({ postgresPort, poolSize: 1, users: [app] });
  pool = new pg.Pool({ connectionString: bouncer.urlFor(new URL(database.url).pathname.slice(1), app), max: CONCURRENCY });
  pool.on("error", () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await bouncer?.stop();
  await admin?.query(`drop owned by ${app}`).catch(() => undefined);
  await admin?.end();
  await database?.drop();
  const cleanup = new pg.Client({ connectionString: servers.postgresUrl });
  await cleanup.connect();
  await cleanup.query(`drop role if exists ${app}`).catch(() => undefined);
  await cleanup.end();
});

interface Observation {
  readonly workspace: string;
  readonly setting: string;
  readonly rows: readonly string[];
  readonly backend: number;
}

/** Runs `scopedTotal` scoped reads alternating A/B over `CONCURRENCY` clients, plus a context-free probe after every 10. */
async function interleave(scopedTotal: number, scoped: (ws: string) => Promise<Observation>) {
  const total = scopedTotal + Math.floor(scopedTotal / 10);
  let next = 0;
  let nextScoped = 0;
  let leaks = 0;
  const backends = new Set<number>();
  const order: string[] = [];
  const worker = async () => {
    while (next < total) {
      const i = next++;
      if (i % 11 === 10) {
        const probe = (await pool.query<{ n: string; s: string | null; p: number }>(
          `select count(*) n, current_setting('tenancy.workspace_id', true) s, pg_backend_pid() p from "Segment"`)).rows[0];
        if (probe?.n !== "0" || (probe.s ?? "") !== "") leaks++;
        continue;
      }
      const ws = nextScoped++ % 2 === 0 ? A : B;
      const seen = await scoped(ws);
      backends.add(seen.backend);
      order.push(ws);
      if (seen.setting !== ws || seen.rows.length !== 5 || seen.rows.some((r) => r !== ws)) leaks++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const switches = order.filter((ws, i) => i > 0 && ws !== order[i - 1]).length;
  return { leaks, backends, switches, scoped: order.length, probes: total - order.length };
}

const OBSERVE = `select "workspaceId"::text w, current_setting('tenancy.workspace_id', true) s, pg_backend_pid() p from "Segment"`;

describe("through PgBouncer in transaction mode with one server connection", () => {
  it(`${TRANSACTIONS} interleaved transactions of two workspaces show zero leaks`, async () => {
    const result = await interleave(TRANSACTIONS, async (ws) => {
      const seen = await withWorkspace(pool, ws, async (tx) => ok((await tx.query<{ w: string; s: string; p: number }>(OBSERVE)).rows));
      const rows = seen._unsafeUnwrap();
      return { workspace: ws, setting: rows[0]?.s ?? "", rows: rows.map((r) => r.w), backend: rows[0]?.p ?? -1 };
    });
    console.log(`[pgbouncer] ${result.scoped} scoped transactions + ${result.probes} context-free probes, ` +
      `${result.backends.size} server backend(s), ${result.switches} workspace switches, ${result.leaks} leaks`);
    expect(result.backends.size).toBe(1);
    expect(result.scoped).toBe(TRANSACTIONS);
    expect(result.probes).toBe(TRANSACTIONS / 10);
    expect(result.switches).toBeGreaterThan(result.scoped / 4);
    expect(result.leaks).toBe(0);
  });

  it("the same harness does catch leaks when the context is set per session (negative control)", async () => {
    const result = await interleave(2_000, async (ws) => {
      // What the AWS sample and many apps do: a session-level setting outside any transaction.
      await pool.query(`select set_config('tenancy.workspace_id', $1, false)`, [ws]);
      const rows = (await pool.query<{ w: string; s: string; p: number }>(OBSERVE)).rows;
      return { workspace: ws, setting: rows[0]?.s ?? "", rows: rows.map((r) => r.w), backend: rows[0]?.p ?? -1 };
    });
    expect(result.leaks).toBeGreaterThan(0);
    // Leave the shared server connection clean for anything after this test.
    await pool.query(`select set_config('tenancy.workspace_id', '', false)`);
  });
});
