import { existsSync, readFileSync } from "node:fs";
import type pg from "pg";
import type { BenchContext } from "./harness.js";

/**
 * postgres.rls.p50 / p99: the same page query, as drizzle sends it, under the
 * generated policies (no workspace filter in the SQL, app role) vs with an
 * explicit filter as a BYPASSRLS role (RLS off), side by side on one server.
 *
 * Both sides use node-postgres' unnamed extended protocol with every value
 * bound, which is what drizzle emits for `.limit(20)` (`limit $1`) and for
 * `eq(workspaceId, ws)`. (Before, the RLS side had no parameters, so
 * node-postgres sent it with the cheaper simple protocol while the peer used
 * the extended one; that asymmetry alone was worth ~10 µs of backend CPU.)
 */
export const PAGE_RLS = `select id, name from "Item" order by "createdAt" desc limit $1`;
export const PAGE_FILTERED = `select id, name from "Item" where "workspaceId" = $1 order by "createdAt" desc limit $2`;
const PAGE_SIZE = 20;
const SET_WORKSPACE = "select set_config('tenancy.workspace_id', $1, true)";

const now = () => performance.now();
export const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};
const median = (values: readonly number[]) => quantile(values, 0.5);
const round = (n: number) => Math.round(n * 1000) / 1000;

/**
 * CPU time a backend has used, in µs, from /proc/<pid>/schedstat (Linux, local
 * server). Load on a shared machine stretches wall latency far more than the
 * CPU the query itself costs, so this is the steadier evidence of what RLS adds.
 */
function backendCpu(pid: number): (() => number) | undefined {
  const file = `/proc/${pid}/schedstat`;
  if (!existsSync(file)) return undefined;
  return () => Number(readFileSync(file, "utf8").split(" ")[0]) / 1000;
}

export interface Side {
  readonly client: pg.PoolClient;
  readonly cpu: (() => number) | undefined;
  readonly query: (ws: string) => Promise<unknown>;
}

export async function side(pool: pg.Pool, query: (c: pg.PoolClient, ws: string) => Promise<unknown>): Promise<Side> {
  const client = await pool.connect();
  const pid = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid ?? 0;
  return { client, cpu: backendCpu(pid), query: (ws) => query(client, ws) };
}

/** One timed query: same untimed preamble on both sides (BEGIN, the workspace setting), then COMMIT. */
async function sample(s: Side, ws: string, wall: number[], cpu: number[]): Promise<void> {
  await s.client.query("begin");
  await s.client.query(SET_WORKSPACE, [ws]);
  const c0 = s.cpu?.() ?? 0;
  const t = now();
  await s.query(ws);
  wall.push((now() - t) * 1000);
  if (s.cpu !== undefined) cpu.push(s.cpu() - c0);
  await s.client.query("commit");
}

export interface Round {
  readonly ours: number[];
  readonly peer: number[];
  readonly oursCpu: number[];
  readonly peerCpu: number[];
}

export async function round1(ours: Side, peer: Side, samples: number, pick: (i: number) => string, offset: number): Promise<Round> {
  const r: Round = { ours: [], peer: [], oursCpu: [], peerCpu: [] };
  for (let i = 0; i < samples; i++) {
    const ws = pick(i + offset);
    // Query by query, and who goes first alternates, so drift and scheduling
    // noise on a shared machine land on both distributions alike.
    if (i % 2 === 0) {
      await sample(ours, ws, r.ours, r.oursCpu);
      await sample(peer, ws, r.peer, r.peerCpu);
    } else {
      await sample(peer, ws, r.peer, r.peerCpu);
      await sample(ours, ws, r.ours, r.oursCpu);
    }
  }
  return r;
}

/** Median planning and execution time (µs) the server reports for one side's query. */
export async function serverTimes(s: Side, sql: string, params: (ws: string) => unknown[], pick: (i: number) => string, n: number) {
  const plan: number[] = [];
  const exec: number[] = [];
  for (let i = 0; i < n; i++) {
    const ws = pick(i);
    await s.client.query("begin");
    await s.client.query(SET_WORKSPACE, [ws]);
    const r = await s.client.query<{ "QUERY PLAN": { "Planning Time": number; "Execution Time": number }[] }>(
      `explain (analyze, timing off, summary, format json) ${sql}`, params(ws));
    await s.client.query("commit");
    const x = r.rows[0]?.["QUERY PLAN"][0];
    if (x !== undefined) {
      plan.push(x["Planning Time"] * 1000);
      exec.push(x["Execution Time"] * 1000);
    }
  }
  return { plan: median(plan), exec: median(exec) };
}

async function explainText(s: Side, sql: string, params: unknown[], ws: string): Promise<string> {
  await s.client.query("begin");
  await s.client.query(SET_WORKSPACE, [ws]);
  const r = await s.client.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers, settings, verbose) ${sql}`, params);
  await s.client.query("rollback");
  return r.rows.map((x) => x["QUERY PLAN"]).join("\n   ");
}

/**
 * Runs the comparison: a warm-up round, then `rounds` rounds of `samples`
 * interleaved pairs. Reports the median over rounds of each side's p50 and p99,
 * the median of the per-round ratios (peer ÷ ours) with their spread and the
 * pooled-sample ratio, the backend CPU per query, and the server's own
 * planning/execution split.
 */
export async function rlsLatency(ctx: BenchContext, app: pg.Pool, bypass: pg.Pool, workspaces: readonly string[]): Promise<void> {
  const samples = ctx.size(4_000, 800);
  const rounds = ctx.quick ? 3 : 9;
  const pick = (i: number) => workspaces[(i * 7919) % workspaces.length] ?? "";
  const ours = await side(app, (c) => c.query(PAGE_RLS, [PAGE_SIZE]));
  const peer = await side(bypass, (c, ws) => c.query(PAGE_FILTERED, [ws, PAGE_SIZE]));
  try {
    console.log(`RLS plan (ours):\n   ${await explainText(ours, PAGE_RLS, [PAGE_SIZE], pick(0))}`);
    console.log(`filtered plan (peer):\n   ${await explainText(peer, PAGE_FILTERED, [pick(0), PAGE_SIZE], pick(0))}`);
    await round1(ours, peer, samples, pick, 0); // warm-up: caches, JIT, both backends' catalog caches
    const per: Round[] = [];
    for (let r = 0; r < rounds; r++) per.push(await round1(ours, peer, samples, pick, (r + 1) * samples));
    const stat = (f: (x: Round) => number[], q: number) => median(per.map((x) => quantile(f(x), q)));
    // Each round pairs ours and the peer in the same window, so the ratio is taken per round
    // and its median reported (a ratio of medians would pair one round's ours with another's peer).
    const paired = (q: number) => per.map((x) => quantile(x.peer, q) / quantile(x.ours, q)).sort((a, b) => a - b);
    const spread = (q: number) => {
      const ratios = paired(q);
      const pooled = quantile(per.flatMap((x) => x.peer), q) / quantile(per.flatMap((x) => x.ours), q);
      return `ratio = median of per-round ratios (min ${ratios[0]?.toFixed(3)}, max ${ratios.at(-1)?.toFixed(3)}, ${rounds} rounds × ${samples}); all samples pooled ${pooled.toFixed(3)}`;
    };
    const cpu = ours.cpu === undefined
      ? "" : `; backend CPU/query p50 ours ${stat((x) => x.oursCpu, 0.5).toFixed(1)} µs, peer ${stat((x) => x.peerCpu, 0.5).toFixed(1)} µs`;
    const server = await serverTimes(ours, PAGE_RLS, () => [PAGE_SIZE], pick, ctx.size(500, 100));
    const serverPeer = await serverTimes(peer, PAGE_FILTERED, (ws) => [ws, PAGE_SIZE], pick, ctx.size(500, 100));
    const split = `; server plan/exec µs ours ${server.plan.toFixed(1)}/${server.exec.toFixed(1)}, peer ${serverPeer.plan.toFixed(1)}/${serverPeer.exec.toFixed(1)}`;
    for (const [id, q, goal] of [["postgres.rls.p50", 0.5, 0.95], ["postgres.rls.p99", 0.99, 0.9]] as const) {
      const o = stat((x) => x.ours, q);
      const p = stat((x) => x.peer, q);
      ctx.record({
        id, ours: round(o), peer: "RLS off + explicit filter", peerValue: round(p), unit: "µs", ratio: round(median(paired(q))), goal,
        note: `both unnamed extended protocol, limit bound (as drizzle sends it); ${spread(q)}${q === 0.5 ? cpu + split : ""}`,
      });
    }
  } finally {
    ours.client.release();
    peer.client.release();
  }
}
