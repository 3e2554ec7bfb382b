import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Check, codeOf, committed, expectEqual, inWorkspace, valueOf } from "./harness.js";
import type { IsolationEnvironment } from "./environment.js";
import { insertStatement, TEMPLATES } from "./templates.js";

const count = (rows: { n: string }[]) => Number(rows[0]?.n ?? -1);

/**
 * The access patterns tried on one tenant table, as the app role (never
 * superuser, owner or BYPASSRLS). Each leak check has a positive control next
 * to it (own rows are visible, own writes work), so a check that passes
 * because everything is denied cannot hide a broken policy.
 */
export function tableChecks(env: IsolationEnvironment, table: string): Check[] {
  const { appPool: pool, ws } = env;
  const t = `"${table}"`;
  const partner = table === "Segment" ? '"Journey"' : '"Segment"';
  const template = TEMPLATES[table];
  if (template === undefined) throw new Error(`no template for ${table}`);
  const row = (w: string, suffix: string) => template(w, suffix, env.parents[w] ?? env.parents[ws.F]!, env.members);
  const idOf = (w: string) => env.seededIds[table]?.[w];
  const hasId = idOf(ws.B) !== undefined;
  const checks: Check[] = [
    { pattern: "select with no context sees nothing", run: async () => expectEqual("rows", count((await pool.query(`select count(*) n from ${t}`)).rows), 0) },
    { pattern: "write with no context changes nothing", run: async () =>
      expectEqual("updated", (await pool.query(`update ${t} set "workspaceId" = "workspaceId"`)).rowCount, 0) },
    { pattern: "own rows visible (control)", run: async () =>
      expectEqual("own", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ w: string }>(`select "workspaceId" w from ${t}`)).rows.map((r) => r.w))), [ws.A]) },
    { pattern: "select of another workspace's rows", run: async () =>
      expectEqual("rows", valueOf(await inWorkspace(pool, ws.A, async (tx) => count((await tx.query<{ n: string }>(`select count(*) n from ${t} where "workspaceId" = $1`, [ws.B])).rows))), 0) },
    { pattern: "update of another workspace's rows", run: async () =>
      expectEqual("updated", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query(`update ${t} set "workspaceId" = "workspaceId" where "workspaceId" = $1`, [ws.B])).rowCount)), 0) },
    { pattern: "update of own rows (control) with RETURNING showing only own", run: async () =>
      expectEqual("returned", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ w: string }>(`update ${t} set "workspaceId" = "workspaceId" returning "workspaceId" w`)).rows.map((r) => r.w))), [ws.A]) },
    { pattern: "delete of another workspace's rows (RETURNING)", run: async () =>
      expectEqual("deleted", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query(`delete from ${t} where "workspaceId" = $1 returning *`, [ws.B])).rows.length)), 0) },
    { pattern: "insert and delete of own row (control, RETURNING)", run: async () => {
      const outcome = await inWorkspace(pool, ws.F, async (tx) => {
        const { text, params } = insertStatement(table, row(ws.F, "pos"), 'returning ctid::text c, "workspaceId" w');
        const inserted = (await tx.query<{ c: string; w: string }>(text, params)).rows;
        const deleted = (await tx.query(`delete from ${t} where ctid = $1::tid`, [inserted[0]?.c])).rowCount;
        return { inserted: inserted.map((r) => r.w), deleted };
      });
      return expectEqual("own insert/delete", valueOf(outcome) ?? codeOf(outcome), { inserted: [ws.F], deleted: 1 });
    } },
    { pattern: "insert with another workspace's id is refused (42501)", run: async () => {
      const { text, params } = insertStatement(table, row(ws.B, "x"));
      return expectEqual("sqlstate", codeOf(await inWorkspace(pool, ws.A, (tx) => tx.query(text, params))), "42501");
    } },
    { pattern: "INSERT ... ON CONFLICT DO NOTHING with another workspace's id is refused (42501)", run: async () => {
      const { text, params } = insertStatement(table, row(ws.B, "seed"), "on conflict do nothing");
      return expectEqual("sqlstate", codeOf(await inWorkspace(pool, ws.A, (tx) => tx.query(text, params))), "42501");
    } },
    { pattern: "INSERT ... ON CONFLICT DO UPDATE onto another workspace's row changes nothing", run: async () => {
      const values = hasId ? { ...row(ws.A, "upsert"), id: idOf(ws.B) } : row(ws.B, "seed");
      const tail = hasId ? `on conflict (id) do update set "workspaceId" = excluded."workspaceId" returning *` : `on conflict do nothing returning *`;
      const { text, params } = insertStatement(table, values, tail);
      const outcome = await inWorkspace(pool, ws.A, async (tx) => (await tx.query(text, params)).rows.length);
      const still = count((await env.superPool.query(`select count(*) n from ${t} where "workspaceId" = $1`, [ws.B])).rows);
      return codeOf(outcome) === "42501" || valueOf(outcome) === 0 ? expectEqual("B rows untouched", still, 1) : `upsert returned ${JSON.stringify(outcome)}`;
    } },
    { pattern: "join across two tenant tables", run: async () =>
      expectEqual("join", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ foreign: string; own: string }>(
        `select count(*) filter (where a."workspaceId" <> $1 or b."workspaceId" <> $1) "foreign", count(*) own
         from ${t} a join ${partner} b on true`, [ws.A])).rows[0])), { foreign: "0", own: "1" }) },
    { pattern: "subquery and CTE", run: async () =>
      expectEqual("subquery", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ other: string; own: boolean }>(
        `with x as (select "workspaceId" w from ${t}) select (select count(*) from x where w <> $1) other,
         exists (select 1 from ${partner} p where p."workspaceId" in (select w from x)) own`, [ws.A])).rows[0])), { other: "0", own: true }) },
    { pattern: "view with security_invoker", run: async () =>
      expectEqual("view", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ other: string; own: string }>(
        `select count(*) filter (where "workspaceId" <> $1) other, count(*) own from "tk_v_${table}"`, [ws.A])).rows[0])), { other: "0", own: "1" }) },
    { pattern: "function (security invoker)", run: async () =>
      expectEqual("function", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ other: string; own: string }>(
        `select "tk_f_${table}"($2) other, "tk_f_${table}"($1) own`, [ws.A, ws.B])).rows[0])), { other: "0", own: "1" }) },
    { pattern: "function (security definer, owner: needs FORCE)", run: async () =>
      expectEqual("definer", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query<{ other: string; own: string }>(
        `select "tk_fd_${table}"($2) other, "tk_fd_${table}"($1) own`, [ws.A, ws.B])).rows[0])), { other: "0", own: "1" }) },
    { pattern: "COPY ... TO", run: async () => {
      const file = join(env.copyDir, `${table}-${Math.random().toString(36).slice(2)}.csv`);
      const outcome = await inWorkspace(pool, ws.A, (tx) => tx.query(`copy ${t} to '${file}' with (format csv)`));
      if (codeOf(outcome) !== undefined) return `copy failed: ${codeOf(outcome)}`;
      const text = readFileSync(file, "utf8");
      return expectEqual("copied", { own: text.includes(ws.A), other: text.includes(ws.B) || text.includes(ws.C) }, { own: true, other: false });
    } },
    { pattern: "context gone after commit", run: async () => {
      await committed(pool, ws.A, (tx) => tx.query(`select count(*) from ${t}`));
      const after = (await pool.query<{ n: string; s: string | null }>(`select count(*) n, current_setting('tenancy.workspace_id', true) s from ${t}`)).rows[0];
      return expectEqual("after commit", { n: after?.n, s: after?.s ?? "" }, { n: "0", s: "" });
    } },
    { pattern: "context gone after rollback", run: async () => {
      await inWorkspace(pool, ws.A, (tx) => tx.query(`select count(*) from ${t}`));
      const after = (await pool.query<{ n: string; s: string | null }>(`select count(*) n, current_setting('tenancy.workspace_id', true) s from ${t}`)).rows[0];
      return expectEqual("after rollback", { n: after?.n, s: after?.s ?? "" }, { n: "0", s: "" });
    } },
    { pattern: "pooled connection reused by the next workspace", run: async () => {
      const first = await committed(pool, ws.A, async (tx) => (await tx.query<{ p: number }>("select pg_backend_pid() p")).rows[0]?.p);
      const next = await committed(pool, ws.B, async (tx) =>
        (await tx.query<{ p: number; w: string[] }>(`select pg_backend_pid() p, array(select "workspaceId"::text from ${t}) w`)).rows[0]);
      return expectEqual("reuse", { same: first === next?.p, rows: next?.w }, { same: true, rows: [ws.B] });
    } },
    { pattern: "owner without context sees nothing (FORCE)", run: async () =>
      expectEqual("owner rows", count((await env.ownerPool.query(`select count(*) n from ${t}`)).rows), 0) },
    { pattern: "explicit parent read grant: reads the child, never writes it", run: async () => {
      const outcome = await inWorkspace(pool, ws.A, async (tx) => ({
        read: count((await tx.query<{ n: string }>(`select count(*) n from ${t} where "workspaceId" = $1`, [ws.C])).rows),
        updated: (await tx.query(`update ${t} set "workspaceId" = "workspaceId" where "workspaceId" = $1`, [ws.C])).rowCount,
      }), [ws.C]);
      return expectEqual("grant", valueOf(outcome), { read: 1, updated: 0 });
    } },
    { pattern: "no implicit parent or child access", run: async () => {
      const parent = await inWorkspace(pool, ws.A, async (tx) => count((await tx.query<{ n: string }>(`select count(*) n from ${t} where "workspaceId" = $1`, [ws.C])).rows));
      const child = await inWorkspace(pool, ws.C, async (tx) => count((await tx.query<{ n: string }>(`select count(*) n from ${t} where "workspaceId" = $1`, [ws.A])).rows));
      return expectEqual("implicit", [valueOf(parent), valueOf(child)], [0, 0]);
    } },
  ];
  if (hasId) {
    checks.push({ pattern: "select of another workspace's row by primary key", run: async () =>
      expectEqual("rows", valueOf(await inWorkspace(pool, ws.A, async (tx) => (await tx.query(`select * from ${t} where id = $1`, [idOf(ws.B)])).rows.length)), 0) });
  }
  return checks;
}

/** Runs every check for `table`; returns how many were tried and what failed. */
export async function runTableChecks(env: IsolationEnvironment, table: string): Promise<{ tried: number; failures: string[] }> {
  const failures: string[] = [];
  const checks = tableChecks(env, table);
  for (const check of checks) {
    let problem: string | null;
    try {
      problem = await check.run();
    } catch (thrown) {
      problem = `threw ${String(thrown)}`;
    }
    if (problem !== null) failures.push(`${table}: ${check.pattern}: ${problem}`);
  }
  return { tried: checks.length, failures };
}
