import type pg from "pg";
import { quoteIdent } from "../src/postgres/identifiers.js";
import { CURRENT_WORKSPACE_SQL, workspaceExpression } from "../src/postgres/policy.js";
import type { BenchContext } from "./harness.js";
import { PAGE_FILTERED, PAGE_RLS, quantile, round1, serverTimes, side, type Round } from "./postgres-rls.js";

/**
 * Opt-in diagnostic (`TK_BENCH_RLS_CONTROLS=1 npm run bench -- postgres`): where the
 * postgres.rls.* gap goes. It swaps the table's SELECT policy for control forms
 * that must never ship (a literal workspace id; the prescribed InitPlan around a
 * literal; the unwrapped setting read) and measures each against the same peer
 * as postgres.rls.*, on one workspace (so every form reads the same index pages),
 * query by query interleaved. The generated policy is restored at the end.
 *
 * Reading the result: "literal" isolates the row-level-security rewrite and the
 * security-barrier qual; "InitPlan(literal)" adds the `(select …)` sub-plan;
 * "generated" adds reading the transaction-local setting at run time.
 */
export async function rlsControls(
  ctx: BenchContext, admin: pg.Pool, app: pg.Pool, bypass: pg.Pool, table: string, column: string, ws: string,
): Promise<void> {
  const literal = `'${ws}'::uuid`; // a uuid from randomUUID(): no quoting hazard
  const col = quoteIdent(column);
  const forms: readonly (readonly [string, string])[] = [
    ["generated (prescribed)", workspaceExpression(column)],
    ["InitPlan(literal)", `${col} = (select ${literal})`],
    ["literal", `${col} = ${literal}`],
    ["unwrapped setting read", `${col} = ${CURRENT_WORKSPACE_SQL.slice("(select ".length, -1)}`],
  ];
  const samples = ctx.size(2_000, 500);
  const rounds = 3;
  const ours = await side(app, (c) => c.query(PAGE_RLS, [20]));
  const peer = await side(bypass, (c, w) => c.query(PAGE_FILTERED, [w, 20]));
  const setPolicy = (using: string) =>
    admin.query(`drop policy if exists tenancy_select on ${table}; create policy tenancy_select on ${table} as permissive for select to public using (${using})`);
  try {
    console.log(`RLS controls (one workspace, ${rounds} rounds × ${samples} pairs; ratio = median per-round p50 peer/ours; CPU = backend µs/query p50 ours − peer):`);
    for (const [name, using] of forms) {
      await setPolicy(using);
      await round1(ours, peer, samples, () => ws, 0); // warm-up after the relcache invalidation
      const per: Round[] = [];
      for (let r = 0; r < rounds; r++) per.push(await round1(ours, peer, samples, () => ws, 0));
      const ratio = quantile(per.map((x) => quantile(x.peer, 0.5) / quantile(x.ours, 0.5)), 0.5);
      const cpu = quantile(per.map((x) => quantile(x.oursCpu, 0.5) - quantile(x.peerCpu, 0.5)), 0.5);
      const o = await serverTimes(ours, PAGE_RLS, () => [20], () => ws, ctx.size(300, 100));
      const p = await serverTimes(peer, PAGE_FILTERED, (w) => [w, 20], () => ws, ctx.size(300, 100));
      console.log(`  ${name.padEnd(24)} p50 ratio ${ratio.toFixed(3)}; CPU ${cpu >= 0 ? "+" : ""}${cpu.toFixed(1)} µs; ` +
        `server plan/exec µs ours ${o.plan.toFixed(1)}/${o.exec.toFixed(1)}, peer ${p.plan.toFixed(1)}/${p.exec.toFixed(1)}`);
    }
  } finally {
    await setPolicy(workspaceExpression(column));
    ours.client.release();
    peer.client.release();
  }
}
