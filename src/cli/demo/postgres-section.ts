import { ok } from "neverthrow";
import { assertAppRole } from "../../postgres/role.js";
import { checkTenancy, discoverTenantTables } from "../../postgres/check.js";
import { policyMigrationSql } from "../../postgres/migration.js";
import { withWorkspace } from "../../postgres/with-workspace.js";
import type { PGliteLike, SqlExecutor } from "../../core/postgres/sql-client.js";
import type { DemoContext } from "./context.js";

/** A few of Dittofeed's tables, with its quoted PascalCase names and camelCase columns. */
const DEMO_SCHEMA = `
  create table "Workspace" (id uuid primary key, name text not null, "parentWorkspaceId" uuid);
  create table "Segment" (id uuid primary key default gen_random_uuid(), "workspaceId" uuid not null references "Workspace"(id),
    name text not null, unique ("workspaceId", name));
  create table "Journey" (id uuid primary key default gen_random_uuid(), "workspaceId" uuid not null references "Workspace"(id),
    name text not null, unique ("workspaceId", name));
  create table "EmailTemplate" (id uuid primary key default gen_random_uuid(), "workspaceId" uuid not null references "Workspace"(id),
    name text not null);
  create role tenancy_app nologin nosuperuser nobypassrls;
  grant select, insert, update, delete on all tables in schema public to tenancy_app;`;

/** The embedded PGlite runs as its superuser; the app side switches role for the transaction only. */
const asApp = (tx: SqlExecutor) => tx.query("set local role tenancy_app");

/** Row level security on PGlite: generate, apply, and show what another workspace can and cannot do. */
export async function postgresSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("postgres: row level security on PGlite");
  const { PGlite } = await import("@electric-sql/pglite");
  const db = new PGlite() as unknown as PGliteLike & { close(): Promise<void> };
  await db.exec(DEMO_SCHEMA);
  const { parent, child, other } = workspaces;
  for (const ws of [parent, child, other]) {
    await db.query(`insert into "Workspace" (id, name, "parentWorkspaceId") values ($1, $2, $3)`, [ws, names[ws] ?? ws, ws === child ? parent : null]);
    await db.query(`insert into "Segment" ("workspaceId", name) values ($1, 'active users'), ($1, 'churn risk')`, [ws]);
  }
  const before = (await checkTenancy(db))._unsafeUnwrap();
  report.line(`checkTenancy before: ${before.findings.length} findings, e.g. ${before.findings.slice(0, 2).map((f) => f.type).join(", ")}`);
  const tables = (await discoverTenantTables(db))._unsafeUnwrap();
  const migration = policyMigrationSql(tables, { parentRead: true });
  await db.exec(migration.replaceAll("--> statement-breakpoint", ""));
  report.line(`generated ${migration.match(/^CREATE POLICY/gm)?.length ?? 0} policies + ENABLE/FORCE for ${tables.map((t) => `"${t.name}"(${t.column})`).join(", ")}`);
  const after = (await checkTenancy(db))._unsafeUnwrap();
  report.line(`checkTenancy after: ${after.findings.length} findings left: ${[...new Set(after.findings.map((f) => `${f.type} ${f.table}`))].join("; ")}`);
  const role = await assertAppRole(db);
  report.line(`assertAppRole as PGlite's superuser: ${role.isErr() ? `${role.error.type} (${role.error.message.split(";")[0]})` : "accepted?!"}`);

  const read = await withWorkspace(db, parent, async (tx) => {
    await asApp(tx);
    const own = await tx.query<{ name: string }>(`select name from "Segment" order by name`);
    const foreign = await tx.query(`select * from "Segment" where "workspaceId" = $1`, [other]);
    return ok({ own: own.rows.map((r) => r.name), foreign: foreign.rows.length });
  });
  const r = read._unsafeUnwrap();
  report.line(`${names[parent]} reads its segments: ${r.own.join(", ")}; asks for ${names[other]}'s: ${r.foreign} rows`);
  const insert = await withWorkspace(db, parent, async (tx) => {
    await asApp(tx);
    return ok(await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'planted')`, [other]));
  });
  report.line(`${names[parent]} inserts a row with ${names[other]}'s id: ${insert.isErr() ? `refused (${insert.error.message.match(/SQLSTATE \w+/)?.[0] ?? insert.error.type})` : "ACCEPTED?!"}`);
  const noGrant = await withWorkspace(db, parent, async (tx) => {
    await asApp(tx);
    return ok((await tx.query(`select * from "Segment" where "workspaceId" = $1`, [child])).rows.length);
  });
  const granted = await withWorkspace(db, parent, async (tx) => {
    await asApp(tx);
    return ok((await tx.query(`select * from "Segment" where "workspaceId" = $1`, [child])).rows.length);
  }, { readWorkspaceIds: [child] });
  report.line(`${names[parent]} reads its child's segments: ${noGrant._unsafeUnwrap()} rows implicitly, ${granted._unsafeUnwrap()} with an explicit read grant`);
  const outside = (await db.query<{ n: number }>(`select count(*)::int n from "Segment"`)).rows[0]?.n;
  report.line(`after the transactions the context is gone (superuser bypass aside): current_setting = '${(await db.query<{ s: string | null }>("select current_setting('tenancy.workspace_id', true) s")).rows[0]?.s ?? ""}', ${outside} rows total`);
  await db.close();
}
