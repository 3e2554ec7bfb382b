import { setTimeout as sleep } from "node:timers/promises";
import { randomUUID } from "node:crypto";
import { ok } from "neverthrow";
import pg from "pg";
import { FairPool } from "../src/postgres/fair-pool.js";
import { tablePolicyStatements } from "../src/postgres/migration.js";
import { withWorkspace } from "../src/postgres/with-workspace.js";
import { startPostgres } from "../test/support/postgres-server.js";
import type { BenchContext } from "./harness.js";
import { rlsLatency } from "./postgres-rls.js";
import { rlsControls } from "./postgres-rls-controls.js";

/**
 * Postgres benchmarks, ours and the peer side by side in one run on one
 * server: 1,000,000 rows over 1,000 workspaces in a Dittofeed-shaped table.
 *  - rls.p50/p99: a page query under the generated policies (no filter in the
 *    SQL) vs the same query with an explicit filter as a BYPASSRLS role (RLS off);
 *    see postgres-rls.ts.
 *  - withWorkspace: a one-query transaction through withWorkspace vs the same query, same
 *    role, in BEGIN/query/COMMIT (the mechanism's overhead; the policy's cost is rls.*).
 *  - pool.fairness: quiet workspaces' p99 acquisition wait with and without a
 *    flooding workspace, FairPool beside a plain pg.Pool.
 */
/** The withWorkspace comparison's query (both sides run it as-is; the RLS pair lives in postgres-rls.ts). */
const PAGE_FILTERED = `select id, name from "Item" where "workspaceId" = $1 order by "createdAt" desc limit 20`;

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};
const median = (values: number[]) => quantile(values, 0.5);
const now = () => performance.now();

export default async function postgresBench(ctx: BenchContext): Promise<void> {
  const server = await startPostgres({ settings: { shared_buffers: "256MB", max_connections: "100" } });
  const url = (user: string) => {
    const u = new URL(server.url);
    u.username = user;
    return u.toString();
  };
  const admin = new pg.Pool({ connectionString: server.url, max: 2 });
  admin.on("error", () => undefined); // the server is stopped under it at the end
  try {
    const rows = ctx.size(1_000_000, 200_000);
    const workspaceCount = ctx.size(1_000, 200);
    const workspaces = Array.from({ length: workspaceCount }, () => randomUUID());
    const loadStart = now();
    await admin.query(`create table "Item" (id uuid primary key default gen_random_uuid(), "workspaceId" uuid not null,
      name text not null, "createdAt" timestamptz not null)`);
    await admin.query(
      `insert into "Item" ("workspaceId", name, "createdAt")
       select ($1::uuid[])[1 + g % $2], 'item ' || g, now() - g * interval '1 second' from generate_series(1, $3) g`,
      [workspaces, workspaceCount, rows],
    );
    await admin.query(`create index "Item_workspaceId_createdAt_idx" on "Item" ("workspaceId", "createdAt")`);
    await admin.query(`vacuum analyze "Item"`);
    for (const s of tablePolicyStatements({ name: "Item", column: "workspaceId" })) await admin.query(s);
    await admin.query(`create role tk_app login; create role tk_bypass login bypassrls; grant select on "Item" to tk_app, tk_bypass`);
    console.log(`loaded ${rows} rows over ${workspaceCount} workspaces in ${((now() - loadStart) / 1000).toFixed(1)} s`);

    const app = new pg.Pool({ connectionString: url("tk_app"), max: 1 });
    const bypass = new pg.Pool({ connectionString: url("tk_bypass"), max: 1 });
    for (const p of [app, bypass]) p.on("error", () => undefined);
    await rlsLatency(ctx, app, bypass, workspaces);
    // Opt-in: where the rls.* gap goes (swaps the SELECT policy for controls, then restores it).
    if (process.env.TK_BENCH_RLS_CONTROLS === "1") await rlsControls(ctx, admin, app, bypass, `"public"."Item"`, "workspaceId", workspaces[0] ?? "");
    await withWorkspaceThroughput(ctx, bypass, workspaces);
    await app.end();
    await bypass.end();
    await poolFairness(ctx, server.url);
  } finally {
    await admin.end();
    await server.stop();
  }
}

async function withWorkspaceThroughput(ctx: BenchContext, bypass: pg.Pool, workspaces: string[]): Promise<void> {
  const iterations = ctx.size(3_000, 800);
  const rounds = ctx.quick ? 3 : 7;
  const pick = (i: number) => workspaces[(i * 104729) % workspaces.length] ?? "";
  // The same query, role, plan and pooled connection on both sides: this isolates what
  // withWorkspace adds (BEGIN + bound set_config in one round trip, Result plumbing); the
  // policy's own cost is what postgres.rls.* measures.
  const ours = async (ws: string) => {
    const t = now();
    await withWorkspace(bypass, ws, async (tx) => ok((await tx.query(PAGE_FILTERED, [ws])).rows.length));
    return now() - t;
  };
  const plain = async (ws: string) => {
    const t = now();
    const client = await bypass.connect();
    try {
      await client.query("BEGIN");
      await client.query(PAGE_FILTERED, [ws]);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    return now() - t;
  };
  // Transaction by transaction, alternating who goes first (whole-loop rounds let a burst of
  // load on a shared machine land on one side only), throughput = transactions ÷ their time;
  // the ratio is taken within each round (both sides shared its window) and its median reported.
  const round1 = async (offset: number) => {
    let o = 0;
    let p = 0;
    for (let i = 0; i < iterations; i++) {
      const ws = pick(i + offset);
      if (i % 2 === 0) {
        o += await ours(ws);
        p += await plain(ws);
      } else {
        p += await plain(ws);
        o += await ours(ws);
      }
    }
    return { ours: iterations / (o / 1000), peer: iterations / (p / 1000) };
  };
  await round1(0); // warm-up
  const per: { ours: number; peer: number }[] = [];
  for (let r = 0; r < rounds; r++) per.push(await round1((r + 1) * iterations));
  const ratios = per.map((x) => x.ours / x.peer).sort((a, b) => a - b);
  const o = median(per.map((x) => x.ours));
  const p = median(per.map((x) => x.peer));
  ctx.record({
    id: "postgres.withWorkspace", ours: round(o), peer: "plain BEGIN/query/COMMIT", peerValue: round(p), unit: "tx/s", ratio: round(median(ratios)), goal: 0.8,
    note: `same query, same role, interleaved per transaction; RLS cost is in postgres.rls.*; ratio = median of per-round ratios (min ${ratios[0]?.toFixed(3)}, max ${ratios.at(-1)?.toFixed(3)}, ${rounds} rounds × ${iterations}); ratio of medians ${(o / p).toFixed(3)}`,
  });
}

async function poolFairness(ctx: BenchContext, serverUrl: string): Promise<void> {
  const durationMs = ctx.size(4_000, 1_500);
  const quietWorkspaces = Array.from({ length: 4 }, () => randomUUID());
  const flooder = randomUUID();
  type Acquire = (ws: string) => Promise<() => Promise<void>>;
  const measure = async (acquire: Acquire, query: (ws: string, release: () => Promise<void>) => Promise<void>, flood: boolean) => {
    let running = true;
    const waits: number[] = [];
    const quiet = quietWorkspaces.map(async (ws) => {
      while (running) {
        const t = now();
        const run = await acquire(ws);
        waits.push(now() - t);
        await query(ws, run);
        await sleep(2);
      }
    });
    const floods = flood
      ? Array.from({ length: 20 }, async () => {
          while (running) await acquire(flooder).then((run) => run());
        })
      : [];
    await sleep(durationMs);
    running = false;
    await Promise.all([...quiet, ...floods]);
    return quantile(waits, 0.99);
  };
  const makeFair = () => {
    const pool = new pg.Pool({ connectionString: serverUrl, max: 10 });
    pool.on("error", () => undefined); // the server stops under closing clients at the end
    const fair = new FairPool(pool, { size: 10, maxPerWorkspace: 3, acquireTimeoutMs: 30_000 });
    const acquire: Acquire = async (ws) => {
      const c = (await fair.acquire(ws))._unsafeUnwrap();
      return async () => {
        await c.client.query(ws === flooder ? "select pg_sleep(0.02)" : "select 1");
        c.release();
      };
    };
    return { pool, acquire };
  };
  const makePlain = () => {
    const pool = new pg.Pool({ connectionString: serverUrl, max: 10 });
    pool.on("error", () => undefined);
    const acquire: Acquire = async (ws) => {
      const c = await pool.connect();
      return async () => {
        await c.query(ws === flooder ? "select pg_sleep(0.02)" : "select 1");
        c.release();
      };
    };
    return { pool, acquire };
  };
  const runOnce = async (make: typeof makeFair) => {
    const { pool, acquire } = make();
    // Warm all 10 connections so both runs measure waiting, not connecting.
    await Promise.all(Array.from({ length: 10 }, () => pool.query("select 1")));
    const baseline = await measure(acquire, (_ws, run) => run(), false);
    const flooded = await measure(acquire, (_ws, run) => run(), true);
    await pool.end();
    return { baseline, flooded };
  };
  const fairRuns: { baseline: number; flooded: number }[] = [];
  const plainRuns: { baseline: number; flooded: number }[] = [];
  for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
    fairRuns.push(await runOnce(makeFair));
    plainRuns.push(await runOnce(makePlain));
  }
  const fairRatio = median(fairRuns.map((x) => x.baseline / x.flooded));
  const plainRatio = median(plainRuns.map((x) => x.baseline / x.flooded));
  ctx.record({
    id: "postgres.pool.fairness",
    ours: round(median(fairRuns.map((x) => x.flooded)) * 1000),
    peer: "pg.Pool (FIFO)",
    peerValue: round(median(plainRuns.map((x) => x.flooded)) * 1000),
    unit: "µs quiet p99 wait under flood",
    ratio: round(Math.min(1, fairRatio)),
    goal: 0.5,
    note: `baseline/flooded p99 wait: FairPool ${fairRatio.toFixed(3)} (baseline ${round(median(fairRuns.map((x) => x.baseline)) * 1000)} µs), plain pg.Pool ${plainRatio.toFixed(3)} (baseline ${round(median(plainRuns.map((x) => x.baseline)) * 1000)} µs)`,
  });
  console.log(`  pool fairness: FairPool baseline/flooded ${fairRatio.toFixed(3)}, plain pg.Pool ${plainRatio.toFixed(3)}`);
}

const round = (n: number) => Math.round(n * 1000) / 1000;
