import type { Catalog, CatalogTable } from "./catalog.js";
import type { GlobalTable } from "./exceptions.js";
import { detectWorkspaceColumn } from "./identifiers.js";
import { POLICY_COMMANDS } from "./policy.js";

export type FindingType =
  | "UnclassifiedTable"
  | "RlsNotEnabled"
  | "RlsNotForced"
  | "MissingPolicy"
  | "UnwrappedPolicyFunction"
  | "NoWorkspaceIndex"
  | "IndexWithoutWorkspace"
  | "UniqueWithoutWorkspace"
  | "PrimaryKeyWithoutWorkspace"
  | "UnindexedForeignKey";

/** One gap in the schema's tenancy. `object` names the policy, index or constraint. */
export interface Finding {
  readonly type: FindingType;
  readonly schema: string;
  readonly table: string;
  readonly object?: string;
  readonly message: string;
}

export interface RuleOptions {
  /** The workspace column; @default detected per table (`workspace_id`, then `workspaceId`). */
  readonly column?: string;
  readonly globalTables: readonly GlobalTable[];
}

/**
 * Removes every `( SELECT … )` sub-select from a deparsed policy expression,
 * leaving what the planner would evaluate per row.
 */
export function stripSubselects(expression: string): string {
  let out = "";
  let i = 0;
  while (i < expression.length) {
    if (/^\(\s*SELECT\b/i.test(expression.slice(i))) {
      let depth = 0;
      for (; i < expression.length; i++) {
        const ch = expression[i];
        if (ch === "(") depth++;
        else if (ch === ")" && --depth === 0) break;
      }
      out += "(subselect)";
      i++;
      continue;
    }
    out += expression[i];
    i++;
  }
  return out;
}

/** True when the expression calls a function outside any `(select …)` wrap (evaluated per row). */
export function hasUnwrappedCall(expression: string): boolean {
  // Deparsed calls print as name( with no space; ANY (…) and IN (…) print with one.
  return /(^|[^\w$"])[a-z_][\w$]*(\.[a-z_][\w$]*)?\(/i.test(stripSubselects(expression).replaceAll(/'(?:[^']|'')*'/g, "''"));
}

function finding(table: { schema: string; name: string }, type: FindingType, message: string, object?: string): Finding {
  return object === undefined
    ? { type, schema: table.schema, table: table.name, message }
    : { type, schema: table.schema, table: table.name, object, message };
}

/** Applies every rule to the catalog. Pure, so the rules are unit-tested without a server. */
export function evaluateRules(catalog: Catalog, options: RuleOptions): { findings: Finding[]; tenant: CatalogTable[]; global: CatalogTable[] } {
  const findings: Finding[] = [];
  const tenant: CatalogTable[] = [];
  const global: CatalogTable[] = [];
  const columnOf = new Map<string, string>();
  const key = (schema: string, name: string) => `${schema}.${name}`;
  for (const table of catalog.tables) {
    const column = detectWorkspaceColumn(table.columns, options.column);
    const listed = options.globalTables.some((g) => g.name === table.name && (g.schema ?? "public") === table.schema);
    if (column === undefined) {
      if (listed) global.push(table);
      else findings.push(finding(table, "UnclassifiedTable", `"${table.name}" has no workspace column and is not in the reviewed exception list`));
      continue;
    }
    tenant.push(table);
    columnOf.set(key(table.schema, table.name), column);
    if (!table.rlsEnabled) findings.push(finding(table, "RlsNotEnabled", `"${table.name}": row level security is not enabled`));
    if (!table.rlsForced) findings.push(finding(table, "RlsNotForced", `"${table.name}": row level security is not forced (the owner skips it)`));
    const policies = catalog.policies.filter((p) => p.schema === table.schema && p.table === table.name);
    for (const command of POLICY_COMMANDS) {
      const covered = policies.some((p) => p.permissive && (p.command === "ALL" || p.command === command.toUpperCase()));
      if (!covered) findings.push(finding(table, "MissingPolicy", `"${table.name}": no permissive ${command.toUpperCase()} policy`, command.toUpperCase()));
    }
    for (const policy of policies) {
      if ([policy.using, policy.withCheck].some((e) => e !== null && hasUnwrappedCall(e))) {
        findings.push(finding(table, "UnwrappedPolicyFunction", `"${table.name}" policy "${policy.name}" calls a function per row; wrap it as (select …)`, policy.name));
      }
    }
  }
  for (const index of catalog.indexes) {
    const column = columnOf.get(key(index.schema, index.table));
    if (column === undefined) continue;
    const table = { schema: index.schema, name: index.table };
    if (index.columns.includes(column)) continue;
    if (index.primary) {
      findings.push(finding(table, "PrimaryKeyWithoutWorkspace", `"${index.table}": primary key ${index.name} lacks "${column}" (blocks distributing by workspace)`, index.name));
    } else if (index.unique) {
      findings.push(finding(table, "UniqueWithoutWorkspace", `"${index.table}": unique index ${index.name} lacks "${column}" (uniqueness leaks across workspaces)`, index.name));
    } else {
      findings.push(finding(table, "IndexWithoutWorkspace", `"${index.table}": index ${index.name} lacks "${column}"`, index.name));
    }
  }
  for (const table of tenant) {
    const column = columnOf.get(key(table.schema, table.name)) ?? "";
    const leads = catalog.indexes.some((i) => i.schema === table.schema && i.table === table.name && i.columns[0] === column);
    if (!leads) findings.push(finding(table, "NoWorkspaceIndex", `"${table.name}": no index leads with "${column}"`));
  }
  for (const fk of catalog.foreignKeys) {
    const covered = catalog.indexes.some(
      (i) => i.schema === fk.schema && i.table === fk.table && fk.columns.every((c, n) => i.columns[n] === c),
    );
    const table = { schema: fk.schema, name: fk.table };
    if (!covered) findings.push(finding(table, "UnindexedForeignKey", `"${fk.table}": foreign key ${fk.name} (${fk.columns.join(", ")}) has no index`, fk.name));
  }
  return { findings, tenant, global };
}
