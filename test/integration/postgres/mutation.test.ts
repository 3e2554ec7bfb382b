import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { policySpecs } from "../../../src/postgres/policy.js";
import { TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";
import { runTableChecks } from "./isolation/checks.js";
import { createIsolationEnvironment, type IsolationEnvironment } from "./isolation/environment.js";

const servers = inject("servers");
let env: IsolationEnvironment;

beforeAll(async () => {
  env = await createIsolationEnvironment(servers.postgresUrl, "tk_pg_mut");
});
afterAll(async () => {
  await env?.close();
});

/** Every way one table's protection can be weakened by a single DDL statement. */
const MUTATIONS: readonly { readonly name: string; readonly sql: (table: string) => string }[] = [
  ...policySpecs("workspaceId", { parentRead: true }).map((spec) => ({ name: `drop policy ${spec.name}`, sql: (t: string) => `drop policy "${spec.name}" on "${t}"` })),
  { name: "no force row level security", sql: (t) => `alter table "${t}" no force row level security` },
  { name: "disable row level security", sql: (t) => `alter table "${t}" disable row level security` },
];

describe("mutation check: weakening any one table's protection makes the isolation suite fail", () => {
  it("the unmutated schema passes (so failures below come from the mutation)", async () => {
    for (const table of TENANT_TABLE_NAMES) expect((await runTableChecks(env, table)).failures).toEqual([]);
  });

  it.each(TENANT_TABLE_NAMES)("%s: each of the 7 mutations is caught", async (table) => {
    const survivors: string[] = [];
    for (const mutation of MUTATIONS) {
      await env.ownerPool.query(mutation.sql(table));
      try {
        const { failures } = await runTableChecks(env, table);
        if (failures.length === 0) survivors.push(mutation.name);
      } finally {
        await env.restorePolicies(table);
      }
    }
    expect(survivors).toEqual([]);
    expect((await runTableChecks(env, table)).failures).toEqual([]);
  });

  it("covers 7 mutations per table", () => {
    expect(MUTATIONS).toHaveLength(7);
  });
});
