import { randomUUID } from "node:crypto";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { tablePolicyStatements } from "../../../../src/postgres/migration.js";
import { applyFixtureSchema } from "../../../fixtures/dittofeed-migration.js";
import { TENANT_TABLE_NAMES } from "../../../fixtures/dittofeed-schema.js";
import { asPostgresUser } from "../../../support/process.js";
import { createTestDatabase } from "../../../support/postgres-server.js";
import { insertStatement, PARENT_TABLES, TEMPLATES, type Members, type Parents } from "./templates.js";

export type TenantTableName = (typeof TENANT_TABLE_NAMES)[number];

/**
 * A database with the fixture schema owned by a non-superuser owner role,
 * generated policies applied, and an app role that is neither superuser,
 * owner nor BYPASSRLS. Workspaces: A and B (unrelated), C (child of A, for the
 * explicit read grant), F (only parent rows: the target of positive inserts).
 */
export interface IsolationEnvironment {
  readonly superPool: pg.Pool;
  readonly ownerPool: pg.Pool;
  /** The app role, one connection: every test reuses the same pooled connection. */
  readonly appPool: pg.Pool;
  readonly ws: { readonly A: string; readonly B: string; readonly C: string; readonly F: string };
  readonly parents: Readonly<Record<string, Parents>>;
  readonly members: Members;
  /** Seeded primary key per table per workspace (tables with an `id`). */
  readonly seededIds: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly copyDir: string;
  readonly appRole: string;
  restorePolicies(table: string): Promise<void>;
  close(): Promise<void>;
}

function urlFor(base: string, user: string): string {
  const url = new URL(base);
  url.username = user;
  return url.toString();
}

export async function createIsolationEnvironment(adminUrl: string, prefix: string): Promise<IsolationEnvironment> {
  const database = await createTestDatabase(adminUrl, prefix);
  const tag = Math.random().toString(36).slice(2, 8);
  const owner = `tk_owner_${tag}`;
  const app = `tk_app_${tag}`;
  const superPool = new pg.Pool({ connectionString: database.url, max: 2 });
  superPool.on("error", () => undefined); // the forced database drop at the end terminates idle connections
  await superPool.query(`create role ${owner} login nosuperuser nobypassrls; create role ${app} login nosuperuser nobypassrls`);
  await superPool.query(`grant all on schema public to ${owner}; grant usage on schema public to ${app}; grant pg_write_server_files to ${app}`);
  const ownerPool = new pg.Pool({ connectionString: urlFor(database.url, owner), max: 2 });
  ownerPool.on("error", () => undefined);
  await applyFixtureSchema(ownerPool);
  for (const table of TENANT_TABLE_NAMES) {
    for (const s of tablePolicyStatements({ name: table, column: "workspaceId" }, { parentRead: true })) await ownerPool.query(s);
  }
  await ownerPool.query(`grant select, insert, update, delete on all tables in schema public to ${app}`);
  for (const table of TENANT_TABLE_NAMES) {
    await ownerPool.query(`create view "tk_v_${table}" with (security_invoker = true) as select * from "${table}"`);
    await ownerPool.query(
      `create function "tk_f_${table}"(ws uuid) returns bigint language sql stable security invoker
       as $$ select count(*) from "${table}" where "workspaceId" = ws $$`,
    );
    // A SECURITY DEFINER function runs as the owner: only FORCE keeps RLS on for it.
    await ownerPool.query(
      `create function "tk_fd_${table}"(ws uuid) returns bigint language sql stable security definer
       as $$ select count(*) from "${table}" where "workspaceId" = ws $$`,
    );
  }
  await ownerPool.query(`grant select on all tables in schema public to ${app}`);

  const ws = { A: randomUUID(), B: randomUUID(), C: randomUUID(), F: randomUUID() };
  await superPool.query(`insert into "Workspace" (id, name, type) values ($1, 'A', 'Parent'), ($2, 'B', 'Root'), ($3, 'F', 'Root')`, [ws.A, ws.B, ws.F]);
  await superPool.query(`insert into "Workspace" (id, name, type, "parentWorkspaceId") values ($1, 'C', 'Child', $2)`, [ws.C, ws.A]);
  const members = { seed: randomUUID(), extra: randomUUID() };
  await superPool.query(`insert into "WorkspaceMember" (id, email) values ($1, 'seed@x'), ($2, 'extra@x')`, [members.seed, members.extra]);

  const parents: Record<string, Parents> = {};
  const seededIds: Record<string, Record<string, string>> = {};
  const insert = async (table: string, row: Record<string, unknown>) => {
    const { text, params } = insertStatement(table, row);
    await superPool.query(text, params);
    if (typeof row.id === "string") (seededIds[table] ??= {})[row.workspaceId as string] = row.id;
    return row;
  };
  for (const w of [ws.A, ws.B, ws.C, ws.F]) {
    const p: Record<string, string> = {};
    for (const table of PARENT_TABLES) {
      const template = TEMPLATES[table];
      if (template === undefined) throw new Error(table);
      const row = await insert(table, template(w, "seed", p as unknown as Parents, members));
      p[table] = row.id as string;
    }
    parents[w] = p as unknown as Parents;
  }
  for (const w of [ws.A, ws.B, ws.C]) {
    for (const table of TENANT_TABLE_NAMES) {
      if ((PARENT_TABLES as readonly string[]).includes(table)) continue;
      const template = TEMPLATES[table];
      if (template === undefined) throw new Error(`no template for ${table}`);
      await insert(table, template(w, "seed", parents[w] as Parents, members));
    }
  }
  const copyDir = mkdtempSync(join(tmpdir(), "tk-copy-"));
  const asPostgres = await asPostgresUser();
  if (asPostgres.uid !== undefined && asPostgres.gid !== undefined) chownSync(copyDir, asPostgres.uid, asPostgres.gid);
  const appPool = new pg.Pool({ connectionString: urlFor(database.url, app), max: 1 });
  appPool.on("error", () => undefined);
  return {
    superPool,
    ownerPool,
    appPool,
    ws,
    parents,
    members,
    seededIds,
    copyDir,
    appRole: app,
    restorePolicies: async (table) => {
      for (const s of tablePolicyStatements({ name: table, column: "workspaceId" }, { parentRead: true })) await ownerPool.query(s);
    },
    close: async () => {
      await Promise.all([appPool.end(), ownerPool.end(), superPool.end()]);
      await database.drop();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop role if exists ${app}; drop role if exists ${owner}`).catch(() => undefined);
      await cleanup.end();
      rmSync(copyDir, { recursive: true, force: true });
    },
  };
}
