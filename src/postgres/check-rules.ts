import type { Catalog, CatalogPolicy, CatalogTable } from "./catalog.js";
import type { GlobalTable } from "./exceptions.js";
import { detectWorkspaceColumn } from "./identifiers.js";
import { POLICY_COMMANDS, readGrantExpression, workspaceExpression } from "./policy.js";

export type FindingType =
  | "UnclassifiedTable"
  | "RlsNotEnabled"
  | "RlsNotForced"
  | "MissingPolicy"
  | "UnrecognisedPermissivePolicy"
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

/**
 * A policy expression as a list of tokens that ignores how Postgres prints
 * it back: whitespace and parentheses dropped, keywords lower-cased, quoted
 * identifiers unquoted (Postgres quotes `workspace_id` only when it must),
 * `::text` casts on literals and sub-select aliases (`AS "nullif"`) removed,
 * `pg_catalog.` dropped. Compared token by token, so nothing can be added.
 *
 * With `column`, one more difference is ignored: a cast to uuid directly
 * after that column when it leads the expression. Postgres prints it when the
 * column's type is a domain over uuid (`(("workspaceId")::uuid = …)`); it
 * changes no value, and nothing else about the expression is relaxed.
 */
export function expressionTokens(expression: string, column?: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < expression.length) {
    const ch = expression[i] ?? "";
    if (/\s|[()]/.test(ch)) {
      i++;
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      for (; j < expression.length; j++) {
        if (expression[j] === ch) {
          if (expression[j + 1] === ch) j++;
          else break;
        }
      }
      const body = expression.slice(i + 1, j).replaceAll(ch + ch, ch);
      tokens.push(ch === '"' ? `w:${body}` : `s:${body}`);
      i = j + 1;
    } else if (expression.startsWith("::", i)) {
      tokens.push("::");
      i += 2;
    } else {
      const word = /^[A-Za-z_][\w$]*/.exec(expression.slice(i))?.[0];
      if (word !== undefined) {
        tokens.push(`w:${word.toLowerCase()}`);
        i += word.length;
      } else {
        tokens.push(ch);
        i++;
      }
    }
  }
  // The column's own token, as printed: quoted (`w:workspaceId`) or bare and lower-case.
  if (column !== undefined && tokens[0] === `w:${column}` && tokens[1] === "::" && tokens[2] === "w:uuid") tokens.splice(1, 2);
  const out: string[] = [];
  for (let k = 0; k < tokens.length; k++) {
    if (tokens[k] === "::" && tokens[k + 1] === "w:text") k++;
    else if (tokens[k] === "w:as" && tokens[k + 1]?.startsWith("w:")) k++;
    else if (tokens[k] === "w:pg_catalog" && tokens[k + 1] === ".") k++;
    else out.push(tokens[k] ?? "");
  }
  return out;
}

function sameExpression(actual: string | null, expected: string, column: string): boolean {
  if (actual === null) return false;
  const a = expressionTokens(actual, column);
  const b = expressionTokens(expected);
  return a.length === b.length && a.every((t, n) => t === b[n]);
}

/**
 * What a permissive policy of the table is, judged by its command and
 * expressions (never its name): "own" when it is one tenancykit generates
 * (the workspace expression; an ALL or UPDATE policy may leave WITH CHECK to
 * USING), "grant" for the documented SELECT-only read grant, else undefined.
 */
export function recognisePolicy(policy: CatalogPolicy, column: string): "own" | "grant" | undefined {
  const own = workspaceExpression(column);
  const isOwn = (e: string | null) => sameExpression(e, own, column);
  switch (policy.command) {
    case "SELECT":
      if (policy.withCheck !== null) return undefined;
      if (isOwn(policy.using)) return "own";
      return sameExpression(policy.using, readGrantExpression(column), column) ? "grant" : undefined;
    case "INSERT":
      return policy.using === null && isOwn(policy.withCheck) ? "own" : undefined;
    case "DELETE":
      return policy.withCheck === null && isOwn(policy.using) ? "own" : undefined;
    case "UPDATE":
    case "ALL":
      return isOwn(policy.using) && (policy.withCheck === null || isOwn(policy.withCheck)) ? "own" : undefined;
    default:
      return undefined;
  }
}

function finding(table: { schema: string; name: string }, type: FindingType, message: string, object?: string): Finding {
  return object === undefined
    ? { type, schema: table.schema, table: table.name, message }
    : { type, schema: table.schema, table: table.name, object, message };
}

/** How a table is named in a finding: a partition says whose, and why it matters. */
function displayName(table: CatalogTable): string {
  return table.partitionOf === undefined
    ? `"${table.name}"`
    : `"${table.name}" (a partition of "${table.partitionOf.name}"; queried by its own name it applies its own policies, not its parent's)`;
}

/** Applies every rule to the catalog. Pure, so the rules are unit-tested without a server. */
export function evaluateRules(catalog: Catalog, options: RuleOptions): { findings: Finding[]; tenant: CatalogTable[]; global: CatalogTable[] } {
  const findings: Finding[] = [];
  const tenant: CatalogTable[] = [];
  const global: CatalogTable[] = [];
  const columnOf = new Map<string, string>();
  const key = (schema: string, name: string) => `${schema}.${name}`;
  const byKey = new Map(catalog.tables.map((t) => [key(t.schema, t.name), t]));
  // A partition of a listed table is covered by the listing (it has the same columns).
  const listed = (table: CatalogTable): boolean => {
    const seen = new Set<string>();
    let current: CatalogTable | undefined = table;
    while (current !== undefined && !seen.has(key(current.schema, current.name))) {
      const { schema, name, partitionOf }: CatalogTable = current;
      if (options.globalTables.some((g) => g.name === name && (g.schema ?? "public") === schema)) return true;
      seen.add(key(schema, name));
      current = partitionOf === undefined ? undefined : byKey.get(key(partitionOf.schema, partitionOf.name));
    }
    return false;
  };
  for (const table of catalog.tables) {
    const column = detectWorkspaceColumn(table.columns, options.column);
    const name = displayName(table);
    if (column === undefined) {
      if (listed(table)) global.push(table);
      else findings.push(finding(table, "UnclassifiedTable", `${name} has no workspace column and is not in the reviewed exception list`));
      continue;
    }
    tenant.push(table);
    columnOf.set(key(table.schema, table.name), column);
    if (!table.rlsEnabled) findings.push(finding(table, "RlsNotEnabled", `${name}: row level security is not enabled`));
    if (!table.rlsForced) findings.push(finding(table, "RlsNotForced", `${name}: row level security is not forced (the owner skips it)`));
    const policies = catalog.policies.filter((p) => p.schema === table.schema && p.table === table.name);
    // Each permissive policy recognised once: ours (the workspace policy or the read grant), or not.
    const recognised = policies.map((p) => (p.permissive ? recognisePolicy(p, column) : undefined));
    const own = policies.filter((p, i) => recognised[i] === "own");
    for (const command of POLICY_COMMANDS) {
      const covered = own.some((p) => p.command === "ALL" || p.command === command.toUpperCase());
      if (!covered) {
        findings.push(finding(table, "MissingPolicy", `${name}: no permissive ${command.toUpperCase()} policy restricting rows to the workspace`, command.toUpperCase()));
      }
    }
    for (const [i, policy] of policies.entries()) {
      // Permissive policies are ORed: one that is not ours can open the table whatever ours say.
      if (policy.permissive && recognised[i] === undefined) {
        const expressions = [policy.using === null ? undefined : `USING ${policy.using}`, policy.withCheck === null ? undefined : `WITH CHECK ${policy.withCheck}`]
          .filter((e) => e !== undefined)
          .join(" ");
        findings.push(finding(
          table,
          "UnrecognisedPermissivePolicy",
          `${name}: permissive ${policy.command} policy "${policy.name}" (${expressions || "no expression"}) is neither the workspace policy nor the read grant; ` +
            "permissive policies are ORed, so it widens what every workspace can reach. Drop it, or make it AS RESTRICTIVE",
          policy.name,
        ));
      }
      if ([policy.using, policy.withCheck].some((e) => e !== null && hasUnwrappedCall(e))) {
        findings.push(finding(table, "UnwrappedPolicyFunction", `"${table.name}" policy "${policy.name}" calls a function per row; wrap it as (select …)`, policy.name));
      }
    }
  }
  for (const index of catalog.indexes) {
    const column = columnOf.get(key(index.schema, index.table));
    // A partition's copy of its parent's index is reported once, on the parent.
    if (column === undefined || index.inherited === true) continue;
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
    // A partition gets its parent's indexes; the missing one is reported on the parent.
    if (table.partitionOf !== undefined) continue;
    const column = columnOf.get(key(table.schema, table.name)) ?? "";
    const leads = catalog.indexes.some((i) => i.schema === table.schema && i.table === table.name && i.columns[0] === column);
    if (!leads) findings.push(finding(table, "NoWorkspaceIndex", `"${table.name}": no index leads with "${column}"`));
  }
  for (const fk of catalog.foreignKeys) {
    if (fk.inherited === true) continue;
    const covered = catalog.indexes.some(
      (i) => i.schema === fk.schema && i.table === fk.table && fk.columns.every((c, n) => i.columns[n] === c),
    );
    const table = { schema: fk.schema, name: fk.table };
    if (!covered) findings.push(finding(table, "UnindexedForeignKey", `"${fk.table}": foreign key ${fk.name} (${fk.columns.join(", ")}) has no index`, fk.name));
  }
  return { findings, tenant, global };
}
