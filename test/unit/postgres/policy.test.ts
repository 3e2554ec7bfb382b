import { describe, expect, it } from "vitest";
import { evaluateRules, expressionTokens, hasUnwrappedCall, recognisePolicy, stripSubselects } from "../../../src/postgres/check-rules.js";
import { detectWorkspaceColumn, quoteIdent } from "../../../src/postgres/identifiers.js";
import { literal, policyMigrationSql, tablePolicyStatements, tableRevertStatements } from "../../../src/postgres/migration.js";
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

  it("repeats every statement on each partition, found when the migration runs (RLS is not inherited)", () => {
    const statements = tablePolicyStatements({ name: "Event", column: "workspaceId" }, { parentRead: true });
    const block = statements.at(-1) ?? "";
    expect(block).toMatch(/^DO \$tenancykit\$\n/);
    expect(block).toContain(`FROM pg_partition_tree('"public"."Event"'::regclass)`);
    expect(block).toContain(`EXECUTE 'ALTER TABLE ' || part::text || ' FORCE ROW LEVEL SECURITY';`);
    expect(block).toContain(
      `EXECUTE 'CREATE POLICY "tenancy_read_grant" ON ' || part::text || ' AS PERMISSIVE FOR SELECT TO public USING ("workspaceId" = ANY ((select nullif(current_setting(''tenancy.workspace_ids'', true), '''')::uuid[])::uuid[]))';`,
    );
    expect(block.match(/EXECUTE /g)).toHaveLength(statements.length - 1);
    // A name holding the dollar tag gets another tag; quotes in names are doubled inside the literals.
    const odd = tablePolicyStatements({ name: "$tenancykit$ it's", column: "w" }).at(-1) ?? "";
    expect(odd).toMatch(/^DO \$tenancykit1\$/);
    expect(odd).toContain(`pg_partition_tree('"public"."$tenancykit$ it''s"'::regclass)`);
    expect(tableRevertStatements({ name: "Event" })[0]).toContain(`' DISABLE ROW LEVEL SECURITY'`);
  });

  it("quotes literals so that backslashes read the same whatever standard_conforming_strings is", () => {
    expect(literal("plain 'x'")).toBe(`'plain ''x'''`);
    expect(literal("a\\b'c")).toBe(`E'a\\\\b''c'`);
    const block = tablePolicyStatements({ name: "Back\\slash", column: "work\\space" }).at(-1) ?? "";
    expect(block).toContain(`pg_partition_tree(E'"public"."Back\\\\slash"'::regclass)`);
    expect(block).toContain(`EXECUTE 'CREATE POLICY "tenancy_select" ON ' || part::text || E' AS PERMISSIVE FOR SELECT TO public USING ("work\\\\space" = `);
    // Names without a backslash keep plain literals.
    expect(tablePolicyStatements({ name: "Event" }).at(-1)).not.toMatch(/E'/);
  });

  it("the revert touches only partitions that carry the policies it drops", () => {
    const block = tableRevertStatements({ name: "Event", column: "workspaceId" }, { parentRead: true, prefix: "tk" })[0] ?? "";
    expect(block).toContain(
      `AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.relid AND p.polname::text = ANY (ARRAY['tk_select', 'tk_insert', 'tk_update', 'tk_delete', 'tk_read_grant']::text[]))`,
    );
    // The apply block reaches every partition.
    expect(tablePolicyStatements({ name: "Event" }).at(-1)).not.toContain("pg_policy");
  });

  it("writes a drizzle-kit migration with statement breakpoints covering every table", () => {
    const sql = policyMigrationSql(schema.TENANT_TABLE_NAMES.map((name) => ({ name })), { column: "workspaceId" });
    expect(sql.match(/^ALTER TABLE "public"\."\w+" FORCE ROW LEVEL SECURITY;$/gm)).toHaveLength(26);
    expect(sql.match(/^CREATE POLICY/gm)).toHaveLength(26 * 4);
    // Per table: ENABLE, FORCE, 4 × (DROP, CREATE), and one DO block for its partitions.
    expect(sql.match(/^DO \$tenancykit\$$/gm)).toHaveLength(26);
    expect(sql.split("--> statement-breakpoint")).toHaveLength(26 * 11);
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

describe("recognising the policies tenancykit generates (permissive policies are ORed: any other one can open the table)", () => {
  const own = `("workspaceId" = ( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif"))`;
  const grant = `("workspaceId" = ANY (( SELECT (NULLIF(current_setting('tenancy.workspace_ids'::text, true), ''::text))::uuid[] AS "nullif"))::uuid[])`;
  const policy = (command: string, using: string | null, withCheck: string | null = null) =>
    ({ schema: "public", table: "Segment", name: "p", command, permissive: true, using, withCheck });

  it("accepts the workspace expression as Postgres prints it back, per command, and the read grant on SELECT only", () => {
    expect(expressionTokens(own)).toEqual(expressionTokens(workspaceExpression("workspaceId")));
    expect(recognisePolicy(policy("SELECT", own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("INSERT", null, own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("UPDATE", own, own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("UPDATE", own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("DELETE", own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("ALL", own), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("SELECT", grant), "workspaceId")).toBe("grant");
    // Postgres quotes a lower-case column only when it must.
    const snake = `(workspace_id = ( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif"))`;
    expect(recognisePolicy(policy("SELECT", snake), "workspace_id")).toBe("own");
  });

  it("refuses anything wider or different", () => {
    for (const [command, using, check] of [
      ["ALL", "true", null],
      ["SELECT", `(${own.slice(1, -1)} OR true)`, null],
      ["SELECT", own.replace("tenancy.workspace_id", "tenancy.workspace_ids"), null],
      ["SELECT", own.replace('"workspaceId"', '"createdBy"'), null],
      ["SELECT", `("workspaceId" = (current_setting('tenancy.workspace_id'::text, true))::uuid)`, null],
      ["ALL", grant, null],
      ["UPDATE", grant, grant],
      ["INSERT", null, "true"],
      ["UPDATE", own, "true"],
      ["ALL", own, "true"],
      ["SELECT", own, own],
      ["DELETE", null, own],
    ] as const) {
      expect(recognisePolicy(policy(command, using, check), "workspaceId"), `${command} ${using} / ${check}`).toBeUndefined();
    }
    expect(recognisePolicy(policy("SELECT", own), "workspace_id")).toBeUndefined();
  });

  it("accepts the cast to uuid Postgres prints after a column whose type is a domain over uuid, and nothing wider", () => {
    // As PostgreSQL 15 prints the generated policies on `"workspaceId" wsid` (create domain wsid as uuid).
    const domainOwn = `(("workspaceId")::uuid = ( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif"))`;
    const domainGrant = `(("workspaceId")::uuid = ANY (( SELECT (NULLIF(current_setting('tenancy.workspace_ids'::text, true), ''::text))::uuid[] AS "nullif")::uuid[]))`;
    for (const command of ["SELECT", "DELETE", "ALL"]) expect(recognisePolicy(policy(command, domainOwn), "workspaceId"), command).toBe("own");
    expect(recognisePolicy(policy("INSERT", null, domainOwn), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("UPDATE", domainOwn, domainOwn), "workspaceId")).toBe("own");
    expect(recognisePolicy(policy("SELECT", domainGrant), "workspaceId")).toBe("grant");
    const snake = `((workspace_id)::uuid = ( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif"))`;
    expect(recognisePolicy(policy("SELECT", snake), "workspace_id")).toBe("own");
    // Only directly after the leading column, and only to uuid.
    for (const using of [
      domainOwn.replace("::uuid =", "::text::uuid ="),
      domainOwn.replace(`("workspaceId")::uuid`, `(("createdBy")::uuid)`),
      domainOwn.replace(`("workspaceId")::uuid`, `lower(("workspaceId")::text)::uuid`),
      `(${domainOwn.slice(1, -1)} OR true)`,
      domainOwn.replace("= (", "= (('00000000-0000-0000-0000-000000000000'::uuid)::uuid OR "),
      `(( SELECT (NULLIF(current_setting('tenancy.workspace_id'::text, true), ''::text))::uuid AS "nullif") = ("workspaceId")::uuid)`,
    ]) {
      expect(recognisePolicy(policy("SELECT", using), "workspaceId"), using).toBeUndefined();
    }
    expect(expressionTokens(domainOwn)).not.toEqual(expressionTokens(own));
    expect(expressionTokens(domainOwn, "workspaceId")).toEqual(expressionTokens(own, "workspaceId"));
  });

  it("evaluateRules: a leftover permissive policy is a finding, and only our own policies count as coverage", () => {
    const table = { schema: "public", name: "Segment", columns: ["id", "workspaceId"], rlsEnabled: true, rlsForced: true };
    const ours = ["SELECT", "INSERT", "UPDATE", "DELETE"].map((c) => ({ ...policy(c, c === "INSERT" ? null : own, c === "INSERT" || c === "UPDATE" ? own : null), name: `tenancy_${c}` }));
    const index = { schema: "public", table: "Segment", name: "ws", columns: ["workspaceId"], unique: false, primary: false };
    const run = (policies: typeof ours) =>
      evaluateRules({ tables: [table], policies, indexes: [index], foreignKeys: [] }, { globalTables: [] }).findings.map((f) => `${f.type} ${f.object ?? ""}`);
    expect(run(ours)).toEqual([]);
    expect(run([...ours, { ...policy("ALL", "true"), name: "open" }])).toEqual(["UnrecognisedPermissivePolicy open"]);
    expect(run([...ours, { ...policy("ALL", "true"), name: "narrowing", permissive: false }])).toEqual([]);
    expect(run([{ ...policy("ALL", "true"), name: "open" }])).toEqual([
      "MissingPolicy SELECT", "MissingPolicy INSERT", "MissingPolicy UPDATE", "MissingPolicy DELETE", "UnrecognisedPermissivePolicy open",
    ]);
  });

  it("evaluateRules: partitions are tables of their own for RLS; a partition of a listed global table is global; copies of the parent's indexes are not reported twice", () => {
    const parent = { schema: "public", name: "Event", columns: ["id", "workspaceId"], rlsEnabled: true, rlsForced: true };
    const part = { ...parent, name: "Event_1", rlsEnabled: false, rlsForced: false, partitionOf: { schema: "public", name: "Event" } };
    const globalParent = { schema: "public", name: "Workspace", columns: ["id"], rlsEnabled: false, rlsForced: false };
    const globalPart = { ...globalParent, name: "Workspace_1", partitionOf: { schema: "public", name: "Workspace" } };
    const ours = (table: string) => ["SELECT", "INSERT", "UPDATE", "DELETE"].map((c) => ({ ...policy(c, c === "INSERT" ? null : own, c === "INSERT" || c === "UPDATE" ? own : null), table, name: `tenancy_${c}` }));
    const indexes = [
      { schema: "public", table: "Event", name: "Event_pkey", columns: ["id"], unique: true, primary: true },
      { schema: "public", table: "Event_1", name: "Event_1_pkey", columns: ["id"], unique: true, primary: true, inherited: true },
      { schema: "public", table: "Event", name: "Event_ws", columns: ["workspaceId"], unique: false, primary: false },
    ];
    const result = evaluateRules(
      { tables: [parent, part, globalParent, globalPart], policies: ours("Event"), indexes, foreignKeys: [] },
      { globalTables: [{ name: "Workspace", reason: "global" }] },
    );
    expect(result.findings.map((f) => `${f.type} ${f.table} ${f.object ?? ""}`.trim())).toEqual([
      "RlsNotEnabled Event_1", "RlsNotForced Event_1",
      "MissingPolicy Event_1 SELECT", "MissingPolicy Event_1 INSERT", "MissingPolicy Event_1 UPDATE", "MissingPolicy Event_1 DELETE",
      "PrimaryKeyWithoutWorkspace Event Event_pkey",
    ]);
    expect(result.findings[0]?.message).toMatch(/"Event_1" \(a partition of "Event"; queried by its own name/);
    expect(result.global.map((t) => t.name)).toEqual(["Workspace", "Workspace_1"]);
    expect(result.tenant.map((t) => t.name)).toEqual(["Event", "Event_1"]);
  });
});
