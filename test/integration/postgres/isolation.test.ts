import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { assertAppRole } from "../../../src/postgres/role.js";
import { TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";
import { runTableChecks } from "./isolation/checks.js";
import { createIsolationEnvironment, type IsolationEnvironment } from "./isolation/environment.js";

const servers = inject("servers");
let env: IsolationEnvironment;

beforeAll(async () => {
  env = await createIsolationEnvironment(servers.postgresUrl, "tk_pg_iso");
});
afterAll(async () => {
  await env?.close();
});

describe("isolation on real PostgreSQL 15, all 26 tenant tables, as a non-owner role without BYPASSRLS", () => {
  it("runs as a role that row level security applies to (else every test below would pass vacuously)", async () => {
    const role = await assertAppRole(env.appPool);
    expect(role._unsafeUnwrap()).toMatchObject({ role: env.appRole, superuser: false, bypassRls: false, ownedTenantTables: [] });
  });

  let total = 0;
  it.each(TENANT_TABLE_NAMES)("%s: every access pattern sees and changes nothing of another workspace", async (table) => {
    const { tried, failures } = await runTableChecks(env, table);
    total += tried;
    expect(failures).toEqual([]);
    expect(tried).toBeGreaterThanOrEqual(23);
  });

  it("tried every pattern on every table", () => {
    console.log(`[isolation] ${total} access-pattern checks over ${TENANT_TABLE_NAMES.length} tables, 0 leaks`);
    expect(total).toBeGreaterThanOrEqual(23 * 26);
  });
});
