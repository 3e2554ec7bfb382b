import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkTenancy, discoverTenantTables } from "../../../src/postgres/check.js";
import { policyMigrationSql, tableRevertStatements } from "../../../src/postgres/migration.js";
import { assertAppRole } from "../../../src/postgres/role.js";
import { runCheckCommand } from "../../../src/postgres/cli-check.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { GLOBAL_TABLE_NAMES, TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let admin: pg.Pool;
const tag = Math.random().toString(36).slice(2, 8);
const roles = { owner: `tk_cat_owner_${tag}`, app: `tk_cat_app_${tag}`, bypass: `tk_cat_bypass_${tag}`, member: `tk_cat_member_${tag}` };
const pools: pg.Pool[] = [];
const poolAs = (user: string) => {
  const url = new URL(database.url);
  url.username = user;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  pool.on("error", () => undefined);
  pools.push(pool);
  return pool;
};

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_pg_cat");
  admin = new pg.Pool({ connectionString: database.url, max: 2 });
  // The forced database drop at the end terminates idle connections; that is expected.
  admin.on("error", () => undefined);
  await admin.query(`create role ${roles.owner} login; create role ${roles.app} login; create role ${roles.bypass} login bypassrls;
    create role ${roles.member} login in role ${roles.owner}; grant all on schema public to ${roles.owner}`);
  await applyFixtureSchema(poolAs(roles.owner));
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await admin.query(`drop owned by ${roles.owner} cascade`).catch(() => undefined);
  await admin.end();
  await database.drop();
  const c = new pg.Client({ connectionString: servers.postgresUrl });
  await c.connect();
  for (const r of Object.values(roles).reverse()) await c.query(`drop role if exists ${r}`).catch(() => undefined);
  await c.end();
});

/** The known gaps of the fixture schema, written out by hand from its definition (not computed). */
const INDEX_AND_KEY_GAPS = [
  "NoWorkspaceIndex EmailTemplate",
  "NoWorkspaceIndex UserPropertyIndex",
  "UniqueWithoutWorkspace UserPropertyIndex UserPropertyIndex_userPropertyId_key",
  ...["SegmentIOConfiguration", "EmailProvider", "SmsProvider", "SubscriptionManagementTemplate", "UserProperty", "Segment", "Journey",
    "MessageTemplate", "Secret", "Integration", "OauthToken", "AdminApiKey", "Feature", "ComponentConfiguration", "SubscriptionGroup",
    "Broadcast", "WriteKey", "ComputedPropertyPeriod", "EmailTemplate", "UserPropertyIndex"].map((t) => `PrimaryKeyWithoutWorkspace ${t} ${t}_pkey`),
  ...[
    ["EmailTemplate", "workspaceId"], ["UserPropertyIndex", "workspaceId"], ["EmailProvider", "secretId"], ["SmsProvider", "secretId"],
    ["DefaultEmailProvider", "emailProviderId"], ["DefaultSmsProvider", "smsProviderId"], ["Broadcast", "segmentId"], ["Broadcast", "journeyId"],
    ["Broadcast", "messageTemplateId"], ["UserPropertyAssignment", "userPropertyId"], ["SegmentAssignment", "segmentId"],
    ["WorkspaceMemberRole", "workspaceMemberId"], ["WriteKey", "secretId"], ["WorkspaceMembeAccount", "workspaceMemberId"],
  ].map(([t, c]) => `UnindexedForeignKey ${t} ${c}`),
].sort();

const RLS_GAPS = TENANT_TABLE_NAMES.flatMap((t) => [
  `RlsNotEnabled ${t}`, `RlsNotForced ${t}`, ...["SELECT", "INSERT", "UPDATE", "DELETE"].map((c) => `MissingPolicy ${t} ${c}`),
]);

async function findings(): Promise<string[]> {
  const report = (await checkTenancy(admin))._unsafeUnwrap();
  // Foreign keys are named by drizzle-kit; identify them by their column instead.
  return report.findings
    .map((f) => (f.type === "UnindexedForeignKey" ? `${f.type} ${f.table} ${f.message.match(/\(([^)]+)\)/)?.[1]}` : [f.type, f.table, f.object].filter(Boolean).join(" ")))
    .sort();
}

describe("checkTenancy on the Dittofeed-shaped fixture schema", () => {
  it("before any policy: flags exactly the RLS gaps of 26 tables plus the known index and key gaps", async () => {
    expect(await findings()).toEqual([...RLS_GAPS, ...INDEX_AND_KEY_GAPS].sort());
    const report = (await checkTenancy(admin))._unsafeUnwrap();
    expect(report.tenantTables.map((t) => t.name).sort()).toEqual([...TENANT_TABLE_NAMES].sort());
    expect(report.tenantTables.every((t) => t.column === "workspaceId")).toBe(true);
    expect(report.globalTables.slice().sort()).toEqual([...GLOBAL_TABLE_NAMES].sort());
  });

  it("after the generated migration: only the index and key gaps remain", async () => {
    const tables = (await discoverTenantTables(admin))._unsafeUnwrap();
    await poolAs(roles.owner).query(policyMigrationSql(tables));
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
  });

  it("flags an unwrapped policy function, a dropped policy, a dropped FORCE and an unclassified table", async () => {
    const owner = poolAs(roles.owner);
    await owner.query(`create policy bare on "Segment" for select using ("workspaceId" = current_setting('tenancy.workspace_id', true)::uuid)`);
    await owner.query(`drop policy tenancy_delete on "Journey"; alter table "Feature" no force row level security; create table "Scratch" (id int)`);
    const extra = (await findings()).filter((f) => !INDEX_AND_KEY_GAPS.includes(f));
    // "bare" is also not a policy tenancykit generates (unwrapped), so it is reported as a permissive policy of unknown reach too.
    expect(extra).toEqual([
      "MissingPolicy Journey DELETE", "RlsNotForced Feature", "UnclassifiedTable Scratch", "UnrecognisedPermissivePolicy Segment bare", "UnwrappedPolicyFunction Segment bare",
    ]);
    await owner.query(`drop policy bare on "Segment"; drop table "Scratch"`);
    await owner.query(policyMigrationSql([{ name: "Journey", column: "workspaceId" }, { name: "Feature", column: "workspaceId" }]));
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
  });
});

describe("checkTenancy: permissive policies that are not ours (they are ORed with ours)", () => {
  it("flags a leftover FOR ALL USING (true), which opens the table to every workspace while ours stay in place", async () => {
    const owner = poolAs(roles.owner);
    await owner.query(`grant usage on schema public to ${roles.app}; grant select on "Segment" to ${roles.app}`);
    await admin.query(`insert into "Workspace" (id, name) values ('00000000-0000-4000-8000-00000000000a', 'A'), ('00000000-0000-4000-8000-00000000000b', 'B')
      on conflict do nothing;
      insert into "Segment" ("workspaceId", name) values ('00000000-0000-4000-8000-00000000000a', 'a'), ('00000000-0000-4000-8000-00000000000b', 'b')`);
    const visible = async () => (await poolAs(roles.app).query(`select count(*)::int n from "Segment"`)).rows[0]?.n;
    expect(await visible()).toBe(0); // no workspace set: nothing
    await owner.query(`create policy leftover on "Segment" for all using (true)`);
    try {
      expect(await visible()).toBe(2); // the leak the check must name
      const extra = (await findings()).filter((f) => !INDEX_AND_KEY_GAPS.includes(f));
      expect(extra).toEqual(["UnrecognisedPermissivePolicy Segment leftover"]);
      const report = (await checkTenancy(admin))._unsafeUnwrap();
      expect(report.ok).toBe(false);
      expect(report.findings.find((f) => f.type === "UnrecognisedPermissivePolicy")?.message).toMatch(/permissive ALL policy "leftover" \(USING true\).*ORed/);
    } finally {
      await owner.query(`drop policy leftover on "Segment"`);
      await admin.query(`delete from "Segment"`);
    }
  });

  it("accepts our own policies in any command form and the read grant on SELECT, restrictive policies, and flags wider variants", async () => {
    const owner = poolAs(roles.owner);
    const own = `"workspaceId" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid)`;
    const grant = `"workspaceId" = any ((select nullif(current_setting('tenancy.workspace_ids', true), '')::uuid[])::uuid[])`;
    await owner.query(policyMigrationSql([{ name: "Journey", column: "workspaceId" }], { parentRead: true }));
    await owner.query(`create policy own_all on "Journey" for all using (${own});
      create policy narrowing on "Journey" as restrictive for all using (true);
      create policy grant_all on "Journey" for all using (${grant});
      create policy widened on "Journey" for select using (${own} or "name" = 'public');
      create policy bad_check on "Journey" for insert with check (true)`);
    try {
      const extra = (await findings()).filter((f) => !INDEX_AND_KEY_GAPS.includes(f));
      expect(extra).toEqual([
        "UnrecognisedPermissivePolicy Journey bad_check", "UnrecognisedPermissivePolicy Journey grant_all", "UnrecognisedPermissivePolicy Journey widened",
      ]);
    } finally {
      await owner.query(`drop policy own_all on "Journey"; drop policy narrowing on "Journey"; drop policy grant_all on "Journey";
        drop policy widened on "Journey"; drop policy bad_check on "Journey"; drop policy tenancy_read_grant on "Journey"`);
    }
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
  });
});

describe("checkTenancy: a workspace column whose type is a domain over uuid", () => {
  it("recognises the generated policies, which Postgres prints back with a cast to uuid after the column", async () => {
    const owner = poolAs(roles.owner);
    await owner.query(`create domain wsid as uuid; create domain wsid_nested as wsid;
      create table "Dom" (id int, "workspaceId" wsid not null); create index on "Dom" ("workspaceId");
      create table dom_snake (id int, workspace_id wsid_nested not null); create index on dom_snake (workspace_id)`);
    const domFindings = async () => (await findings()).filter((f) => / (Dom|dom_snake)\b/.test(f));
    try {
      await owner.query(policyMigrationSql([{ name: "Dom", column: "workspaceId" }, { name: "dom_snake", column: "workspace_id" }], { parentRead: true }));
      const printed = await admin.query<{ e: string }>(`select pg_get_expr(polqual, polrelid) e from pg_policy where polname = 'tenancy_select' and polrelid = '"Dom"'::regclass`);
      expect(printed.rows[0]?.e).toMatch(/^\(\("workspaceId"\)::uuid = /);
      expect(await domFindings()).toEqual([]);
      // A wider policy on the same column is still flagged.
      await owner.query(`create policy widened on "Dom" for select using ("workspaceId"::uuid = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid) or id = 1)`);
      expect(await domFindings()).toEqual(["UnrecognisedPermissivePolicy Dom widened"]);
    } finally {
      await owner.query(`drop table "Dom"; drop table dom_snake; drop domain wsid_nested; drop domain wsid`);
    }
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
  });
});

describe("partitions: each is a table of its own to row level security", () => {
  const WA = "00000000-0000-4000-8000-0000000000aa";
  const WB = "00000000-0000-4000-8000-0000000000bb";
  const tenantRows = async (sql: string, workspace?: string) => {
    const client = await poolAs(roles.app).connect();
    try {
      await client.query("begin");
      if (workspace !== undefined) await client.query(`select set_config('tenancy.workspace_id', $1, true)`, [workspace]);
      return (await client.query<{ w: string }>(sql)).rows.map((r) => r.w);
    } finally {
      await client.query("rollback");
      client.release();
    }
  };
  const eventFindings = async () => (await findings()).filter((f) => / Event/.test(f)).sort();

  it("the generated migration (for the parent only, as from the drizzle schema) covers its partitions; the check sees them", async () => {
    const owner = poolAs(roles.owner);
    await admin.query(`create schema archive authorization ${roles.owner}`);
    await owner.query(`create table "Event" (id uuid not null default gen_random_uuid(), "workspaceId" uuid not null, at date not null,
        primary key ("workspaceId", id, at)) partition by range (at);
      create table "Event_2026_01" partition of "Event" for values from ('2026-01-01') to ('2026-02-01');
      create table "Event_2026_02" partition of "Event" for values from ('2026-02-01') to ('2026-03-01') partition by hash ("workspaceId");
      create table "Event_2026_02_h0" partition of "Event_2026_02" for values with (modulus 2, remainder 0);
      create table "Event_2026_02_h1" partition of "Event_2026_02" for values with (modulus 2, remainder 1);
      create table archive."Event_2025" partition of "Event" for values from ('2025-01-01') to ('2026-01-01');
      grant usage on schema public, archive to ${roles.app};
      grant select, insert on all tables in schema public to ${roles.app}; grant select, insert on all tables in schema archive to ${roles.app};
      insert into "Event" ("workspaceId", at) select w, d from unnest(array['${WA}', '${WB}']::uuid[]) w, unnest(array['2025-06-01', '2026-01-15', '2026-02-15']::date[]) d`);
    const partitions = ['"Event_2026_01"', '"Event_2026_02"', '"Event_2026_02_h0"', '"Event_2026_02_h1"', 'archive."Event_2025"'];
    try {
      // Before: the check names every partition (the one in another schema too).
      const before = await eventFindings();
      for (const p of ["Event_2026_01", "Event_2026_02", "Event_2026_02_h0", "Event_2026_02_h1", "Event_2025"]) {
        expect(before).toEqual(expect.arrayContaining([`RlsNotEnabled ${p}`, `RlsNotForced ${p}`, `MissingPolicy ${p} SELECT`]));
      }
      const report = (await checkTenancy(admin))._unsafeUnwrap();
      expect(report.findings.find((f) => f.type === "RlsNotEnabled" && f.table === "Event_2026_01")?.message).toMatch(/partition of "Event"/);
      expect(report.tenantTables.filter((t) => t.name.startsWith("Event")).map((t) => `${t.schema}.${t.name}`).sort()).toEqual(
        ["archive.Event_2025", "public.Event", "public.Event_2026_01", "public.Event_2026_02", "public.Event_2026_02_h0", "public.Event_2026_02_h1"],
      );

      await owner.query(policyMigrationSql([{ name: "Event", column: "workspaceId" }]));

      // Through the parent and through every partition's own name: nothing without a workspace, only A's rows for A.
      for (const table of ['"Event"', ...partitions]) {
        expect(await tenantRows(`select "workspaceId" w from ${table}`), table).toEqual([]);
        const rows = await tenantRows(`select "workspaceId" w from ${table}`, WA);
        expect(rows.filter((w) => w !== WA), table).toEqual([]);
      }
      expect(await tenantRows(`select "workspaceId" w from "Event"`, WA)).toEqual([WA, WA, WA]);
      await expect(tenantRows(`insert into "Event_2026_01" ("workspaceId", at) values ('${WB}', '2026-01-20') returning "workspaceId" w`, WA)).rejects.toMatchObject({ code: "42501" });
      expect(await eventFindings()).toEqual([]);

      // A partition made after the migration has no row level security of its own: reported until the migration runs again.
      await owner.query(`create table "Event_2026_03" partition of "Event" for values from ('2026-03-01') to ('2026-04-01');
        grant select on "Event_2026_03" to ${roles.app}`);
      await admin.query(`insert into "Event" ("workspaceId", at) values ('${WA}', '2026-03-02'), ('${WB}', '2026-03-02')`);
      expect(new Set(await tenantRows(`select "workspaceId" w from "Event_2026_03"`))).toEqual(new Set([WA, WB])); // the leak
      expect(await eventFindings()).toEqual([
        "MissingPolicy Event_2026_03 DELETE", "MissingPolicy Event_2026_03 INSERT", "MissingPolicy Event_2026_03 SELECT", "MissingPolicy Event_2026_03 UPDATE",
        "RlsNotEnabled Event_2026_03", "RlsNotForced Event_2026_03",
      ]);
      await owner.query(policyMigrationSql([{ name: "Event", column: "workspaceId" }]));
      expect(await tenantRows(`select "workspaceId" w from "Event_2026_03"`)).toEqual([]);
      expect(await eventFindings()).toEqual([]);

      // The revert undoes the partitions too.
      for (const s of tableRevertStatements({ name: "Event", column: "workspaceId" })) await owner.query(s);
      const rls = await admin.query<{ n: number }>(`select count(*)::int n from pg_class where relname like 'Event%' and relkind in ('r', 'p') and (relrowsecurity or relforcerowsecurity)`);
      expect(rls.rows[0]?.n).toBe(0);
      expect((await admin.query(`select 1 from pg_policy p join pg_class c on c.oid = p.polrelid where c.relname like 'Event%'`)).rows).toEqual([]);
    } finally {
      await owner.query(`drop table "Event"`);
      await admin.query(`drop schema archive`);
    }
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
  });

  it("the revert leaves alone a partition that does not carry our policies (row level security of its own is kept)", async () => {
    const owner = poolAs(roles.owner);
    await owner.query(`create table "Log" ("workspaceId" uuid not null, at date not null) partition by range (at);
      create index on "Log" ("workspaceId");
      create table "Log_1" partition of "Log" for values from ('2026-01-01') to ('2026-02-01')`);
    try {
      await owner.query(policyMigrationSql([{ name: "Log", column: "workspaceId" }]));
      // Made after the migration, with row level security of its own.
      await owner.query(`create table "Log_2" partition of "Log" for values from ('2026-02-01') to ('2026-03-01');
        alter table "Log_2" enable row level security; alter table "Log_2" force row level security;
        create policy own_rule on "Log_2" using ("workspaceId" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid))`);
      for (const s of tableRevertStatements({ name: "Log", column: "workspaceId" })) await owner.query(s);
      const state = await admin.query<{ relname: string; rls: boolean; forced: boolean; policies: string[] }>(
        `select c.relname, c.relrowsecurity rls, c.relforcerowsecurity forced,
           coalesce(array_agg(p.polname::text order by p.polname) filter (where p.polname is not null), '{}') policies
         from pg_class c left join pg_policy p on p.polrelid = c.oid where c.relname like 'Log%' and c.relkind in ('r', 'p') group by 1, 2, 3 order by 1`,
      );
      expect(state.rows).toEqual([
        { relname: "Log", rls: false, forced: false, policies: [] },
        { relname: "Log_1", rls: false, forced: false, policies: [] },
        { relname: "Log_2", rls: true, forced: true, policies: ["own_rule"] },
      ]);
    } finally {
      await owner.query(`drop table "Log"`);
    }
  });

  it("migrates and reverts a table and column whose names hold a backslash, with standard_conforming_strings off too", async () => {
    const owner = poolAs(roles.owner);
    const name = "Back\\slash\\Event";
    const ident = `"${name}"`;
    const column = "work\\space";
    await owner.query(`create table ${ident} ("${column}" uuid not null, at date not null) partition by range (at);
      create table "${name}_1" partition of ${ident} for values from ('2026-01-01') to ('2026-02-01')`);
    const client = await owner.connect();
    try {
      await client.query("set standard_conforming_strings = off; set escape_string_warning = off");
      await client.query(policyMigrationSql([{ name, column }]));
      const rls = async () =>
        (await admin.query<{ relname: string; rls: boolean; n: number }>(
          `select c.relname, c.relrowsecurity rls, (select count(*)::int from pg_policy p where p.polrelid = c.oid) n
           from pg_class c where c.relname like 'Back%' order by 1`,
        )).rows;
      expect(await rls()).toEqual([{ relname: name, rls: true, n: 4 }, { relname: `${name}_1`, rls: true, n: 4 }]);
      for (const s of tableRevertStatements({ name, column })) await client.query(s);
      expect(await rls()).toEqual([{ relname: name, rls: false, n: 0 }, { relname: `${name}_1`, rls: false, n: 0 }]);
    } finally {
      await client.query("reset standard_conforming_strings; reset escape_string_warning");
      client.release();
      await owner.query(`drop table ${ident}`);
    }
  });
});

describe("tenancykit check (CLI)", () => {
  it("prints the findings and exits 2 while gaps remain; --migration prints the policies", async () => {
    let out = "";
    const code = await runCheckCommand(["--url", database.url], (t) => (out += t), (t) => (out += t));
    expect(code).toBe(2);
    expect(out).toContain("NoWorkspaceIndex (2)");
    expect(out).toContain(`"UserPropertyIndex": no index leads with "workspaceId"`);
    let migration = "";
    expect(await runCheckCommand(["--url", database.url, "--migration"], (t) => (migration += t), () => undefined)).toBe(0);
    expect(migration.match(/^ALTER TABLE "public"\."\w+" FORCE ROW LEVEL SECURITY;$/gm)).toHaveLength(26);
  });
});

describe("assertAppRole", () => {
  it("accepts a non-owner role without SUPERUSER or BYPASSRLS", async () => {
    expect((await assertAppRole(poolAs(roles.app)))._unsafeUnwrap()).toEqual({ role: roles.app, superuser: false, bypassRls: false, ownedTenantTables: [] });
  });

  it("refuses a superuser, an owner, a member of the owner and a BYPASSRLS role, listing why", async () => {
    const superuser = (await assertAppRole(admin))._unsafeUnwrapErr();
    expect(superuser).toMatchObject({ type: "UnsafeAppRole", retryable: false });
    expect((superuser as unknown as { reasons: string[] }).reasons[0]).toBe("superuser");
    const owner = (await assertAppRole(poolAs(roles.owner)))._unsafeUnwrapErr() as unknown as { reasons: string[] };
    expect(owner.reasons).toHaveLength(26);
    expect(owner.reasons).toContain('owns "Segment"');
    const member = (await assertAppRole(poolAs(roles.member)))._unsafeUnwrapErr() as unknown as { reasons: string[] };
    expect(member.reasons).toHaveLength(26);
    const bypass = (await assertAppRole(poolAs(roles.bypass)))._unsafeUnwrapErr() as unknown as { reasons: string[] };
    expect(bypass.reasons).toEqual(["bypassrls"]);
  });

  it("accepts an explicitly allowed exception", async () => {
    expect((await assertAppRole(poolAs(roles.bypass), { allowBypassRls: true })).isOk()).toBe(true);
    expect((await assertAppRole(poolAs(roles.owner), { allowOwner: true })).isOk()).toBe(true);
  });
});
