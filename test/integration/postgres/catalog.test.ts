import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkTenancy, discoverTenantTables } from "../../../src/postgres/check.js";
import { policyMigrationSql } from "../../../src/postgres/migration.js";
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
    expect(extra).toEqual(["MissingPolicy Journey DELETE", "RlsNotForced Feature", "UnclassifiedTable Scratch", "UnwrappedPolicyFunction Segment bare"]);
    await owner.query(`drop policy bare on "Segment"; drop table "Scratch"`);
    await owner.query(policyMigrationSql([{ name: "Journey", column: "workspaceId" }, { name: "Feature", column: "workspaceId" }]));
    expect(await findings()).toEqual(INDEX_AND_KEY_GAPS);
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
    expect(migration.match(/FORCE ROW LEVEL SECURITY/g)).toHaveLength(26);
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
