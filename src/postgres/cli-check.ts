import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { describeThrown } from "../core/errors.js";
import type { PgPoolLike } from "../core/postgres/sql-client.js";
import { checkTenancy } from "./check.js";
import { formatReport } from "./format-report.js";
import { policyMigrationSql } from "./migration.js";

export const CHECK_USAGE = `usage: tenancykit check [--url postgres://…] [--schema public] [--column workspaceId] [--json] [--migration]

Checks a live database for tenancy gaps (RLS enabled, forced and a workspace policy per command on
every table with a workspace column and on each of its partitions; permissive policies other than
the generated ones, which are ORed with them; workspace-leading indexes; unique keys, primary keys
and foreign keys; unwrapped policy functions; tables that are neither tenant nor in the reviewed
exception list).
The URL defaults to TENANCY_DATABASE_URL. Exit code 0: no findings, 2: findings, 1: error.
--migration prints the policy migration for the tenant tables found instead.
`;

/** `tenancykit check`: loads pg only here, at run time, because only this command needs it. */
export async function runCheckCommand(argv: readonly string[], out: (text: string) => void, errOut: (text: string) => void): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: "string" },
        schema: { type: "string", multiple: true },
        column: { type: "string" },
        json: { type: "boolean", default: false },
        migration: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (thrown) {
    // An unknown option or a missing value: a usage error (exit 1), not a crash.
    errOut(`tenancykit check: ${describeThrown(thrown)}\n${CHECK_USAGE}`);
    return 1;
  }
  if (values.help === true) {
    out(CHECK_USAGE);
    return 0;
  }
  let url = values.url;
  if (url === undefined) {
    const config = loadConfig(process.env);
    if (config.isErr()) {
      errOut(`${config.error.message}\n${config.error.problems.map((p) => `  ${p.variable}: ${p.reason}`).join("\n")}\n`);
      return 1;
    }
    url = config.value.databaseUrl;
  }
  if (url === undefined) {
    errOut(`no database: pass --url or set TENANCY_DATABASE_URL\n${CHECK_USAGE}`);
    return 1;
  }
  const pg = (await import("pg")).default;
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const report = await checkTenancy(pool as unknown as PgPoolLike, {
      ...(values.schema === undefined ? {} : { schemas: values.schema }),
      ...(values.column === undefined ? {} : { column: values.column }),
    });
    if (report.isErr()) {
      errOut(`tenancykit check: ${report.error.message}\n`);
      return 1;
    }
    if (values.migration === true) out(policyMigrationSql(report.value.tenantTables));
    else out(values.json === true ? `${JSON.stringify(report.value, null, 2)}\n` : formatReport(report.value));
    return report.value.ok || values.migration === true ? 0 : 2;
  } finally {
    await pool.end();
  }
}
