import { describe, expect, it } from "vitest";
import { hasUnwrappedCall, stripSubselects } from "../../../src/postgres/check-rules.js";
import { detectWorkspaceColumn, quoteIdent } from "../../../src/postgres/identifiers.js";
import { policyMigrationSql, tablePolicyStatements, tableRevertStatements } from "../../../src/postgres/migration.js";
import { policySpecs, workspaceExpression } from "../../../src/postgres/policy.js";
import { workspacePolicies, tenantTablesFromDrizzle } from "../../../src/postgres/drizzle.js";
import * as schema from "../../fixtures/dittofeed-schema.js";

describe("policy generation", () => {
  it("builds the documented expression with the column quoted", () => {
    expect(workspaceExpression("workspaceId")).toBe(
      `"workspaceId" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid)`,
    );
    expect(workspaceExpression('we"ird')).toBe(`"we""ird" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid)`);
  });

  it("has one policy per command plus the explicit read grant, which is SELECT only", () => {
    const specs = policySpecs("workspace_id", { parentRead: true });
    expect(specs.map((s) => `${s.name}:${s.command}`)).toEqual([
      "tenancy_select:select", "tenancy_insert:insert", "tenancy_update:update", "tenancy_delete:delete", "tenancy_read_grant:select",
    ]);
    expect(specs.find((s) => s.command === "insert")).toMatchObject({ withCheck: expect.stringContaining("tenancy.workspace_id") });
    expect(specs.filter((s) => JSON.stringify(s).includes("workspace_ids")).map((s) => s.command)).toEqual(["select"]);
    expect(policySpecs("w")).toHaveLength(4);
  });

  it("emits ENABLE, FORCE and quoted, schema-qualified statements", () => {
    const statements = tablePolicyStatements({ name: "Segment", column: "workspaceId" });
    expect(statements.slice(0, 2)).toEqual([
      `ALTER TABLE "public"."Segment" ENABLE ROW LEVEL SECURITY`,
      `ALTER TABLE "public"."Segment" FORCE ROW LEVEL SECURITY`,
    ]);
    expect(statements.filter((s) => s.startsWith("CREATE POLICY"))).toHaveLength(4);
    expect(statements).toContain(
      `CREATE POLICY "tenancy_update" ON "public"."Segment" AS PERMISSIVE FOR UPDATE TO public USING ("workspaceId" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid)) WITH CHECK ("workspaceId" = (select nullif(current_setting('tenancy.workspace_id', true), '')::uuid))`,
    );
    expect(tablePolicyStatements({ name: "t" }, { roles: ["app_role"] })[3]).toContain(`TO "app_role"`);
    expect(tableRevertStatements({ name: "t" }).at(-1)).toBe(`ALTER TABLE "public"."t" DISABLE ROW LEVEL SECURITY`);
  });

  it("writes a drizzle-kit migration with statement breakpoints covering every table", () => {
    const sql = policyMigrationSql(schema.TENANT_TABLE_NAMES.map((name) => ({ name })), { column: "workspaceId" });
    expect(sql.match(/FORCE ROW LEVEL SECURITY/g)).toHaveLength(26);
    expect(sql.match(/CREATE POLICY/g)).toHaveLength(26 * 4);
    expect(sql.split("--> statement-breakpoint")).toHaveLength(26 * 10);
    expect(sql).not.toMatch(/\bSET\s+(SESSION\s+)?[\w.]+\s*(=|TO)/i);
  });

  it("detects the workspace column: workspace_id first, then workspaceId, or the one named", () => {
    expect(detectWorkspaceColumn(["id", "workspaceId"])).toBe("workspaceId");
    expect(detectWorkspaceColumn(["workspaceId", "workspace_id"])).toBe("workspace_id");
    expect(detectWorkspaceColumn(["id", "tenant"])).toBeUndefined();
    expect(detectWorkspaceColumn(["tenant"], "tenant")).toBe("tenant");
    expect(quoteIdent("Segment")).toBe(`"Segment"`);
  });

  it("drizzle: pgPolicy definitions per command and tenant tables found from the schema", () => {
    const policies = workspacePolicies("workspaceId", { parentRead: true });
    expect(policies.map((p) => [p.name, p.for, p.as])).toEqual([
      ["tenancy_select", "select", "permissive"], ["tenancy_insert", "insert", "permissive"], ["tenancy_update", "update", "permissive"],
      ["tenancy_delete", "delete", "permissive"], ["tenancy_read_grant", "select", "permissive"],
    ]);
    expect(policies.every((p) => p.using !== undefined || p.withCheck !== undefined)).toBe(true);
    const tables = tenantTablesFromDrizzle(schema);
    expect(tables.map((t) => t.name).sort()).toEqual([...schema.TENANT_TABLE_NAMES].sort());
    expect(tables.every((t) => t.column === "workspaceId")).toBe(true);
  });
});

describe("unwrapped policy function detection", () => {
  it("accepts calls inside (select …) and flags bare ones", () => {
    const wrapped = `("workspaceId" = ( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif"))`;
    expect(stripSubselects(wrapped)).toBe(`("workspaceId" = (subselect))`);
    expect(hasUnwrappedCall(wrapped)).toBe(false);
    expect(hasUnwrappedCall(`("workspaceId" = (current_setting('tenancy.workspace_id'::text, true))::uuid)`)).toBe(true);
    expect(hasUnwrappedCall(`("workspaceId" = ANY (( SELECT (NULLIF(current_setting('x'::text, true), ''::text))::uuid[] AS "nullif"))::uuid[])`)).toBe(false);
    expect(hasUnwrappedCall(`(owner = auth.uid())`)).toBe(true);
    expect(hasUnwrappedCall(`(name = 'f(x)')`)).toBe(false);
  });
});
