import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { describeThrown } from "../core/errors.js";
import { toSqlClient, type PostgresSource, type SqlClient } from "../core/postgres/sql-client.js";
import { buildUsageReport, formatUsageTable, parseUsagePlans, queryUsage, type UsagePlans } from "./usage-report.js";

export const USAGE_HELP = `usage: tenancykit usage [options]

Prints per-workspace usage flushed by UsageFlusher (table tenancy_metric_usage)
and, with --plans, usage against each workspace's plan limits.

options:
  --database-url URL   Postgres to read (default: TENANCY_DATABASE_URL)
  --pglite DIR         read an embedded PGlite data directory instead
  --plans FILE         JSON { "plans": { "<plan>": { "<metric>": limit } }, "workspaces": { "<id>": "<plan>" } }
  --since ISO          start of the period (default: start of today, UTC)
  --until ISO          end of the period (default: now)
  --json               print JSON lines instead of a table
`;

interface Io {
  readonly out: (text: string) => void;
  readonly errOut: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => Date;
}

/** `tenancykit usage`: returns the process exit code. */
export async function runUsageCommand(argv: readonly string[], io: Io): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        "database-url": { type: "string" },
        pglite: { type: "string" },
        plans: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (thrown) {
    io.errOut(`tenancykit usage: ${describeThrown(thrown)}\n${USAGE_HELP}`);
    return 1;
  }
  if (values.help) {
    io.out(USAGE_HELP);
    return 0;
  }
  let plans: UsagePlans | undefined;
  if (values.plans !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(values.plans, "utf8"));
    } catch (thrown) {
      io.errOut(`tenancykit usage: cannot read plans ${values.plans}: ${describeThrown(thrown)}\n`);
      return 1;
    }
    const parsed = parseUsagePlans(raw);
    if (parsed.isErr()) {
      io.errOut(`tenancykit usage: ${parsed.error.message}\n`);
      return 1;
    }
    plans = parsed.value;
  }
  const now = io.now();
  const since = values.since === undefined ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())) : new Date(values.since);
  const until = values.until === undefined ? now : new Date(values.until);
  if (Number.isNaN(since.getTime()) || Number.isNaN(until.getTime())) {
    io.errOut("tenancykit usage: --since/--until must be ISO dates\n");
    return 1;
  }
  const connection = await connect(values["database-url"], values.pglite, io);
  if (!connection) return 1;
  try {
    const rows = await queryUsage(connection.client, { since, until });
    if (rows.isErr()) {
      io.errOut(`tenancykit usage: ${rows.error.message}\n`);
      return 1;
    }
    const report = buildUsageReport(rows.value, plans);
    if (values.json) for (const line of report) io.out(`${JSON.stringify(line)}\n`);
    else {
      io.out(`usage from ${since.toISOString()} to ${until.toISOString()}: ${report.length} rows\n`);
      io.out(formatUsageTable(report, plans !== undefined));
    }
    return 0;
  } finally {
    await connection.close();
  }
}

async function connect(
  url: string | undefined,
  pgliteDir: string | undefined,
  io: Io,
): Promise<{ client: SqlClient; close: () => Promise<void> } | undefined> {
  try {
    if (pgliteDir !== undefined) {
      // PGlite creates a database in any directory it is given: a mistyped path would make a new, empty one.
      if (!existsSync(join(pgliteDir, "PG_VERSION"))) {
        io.errOut(`tenancykit usage: ${pgliteDir} is not a PGlite database directory (no PG_VERSION)\n`);
        return undefined;
      }
      const { PGlite } = await import("@electric-sql/pglite");
      const db = new PGlite(pgliteDir);
      return { client: toSqlClient(db as unknown as PostgresSource) as SqlClient, close: () => db.close() };
    }
    const config = url === undefined ? loadConfig(io.env) : undefined;
    if (config !== undefined && config.isErr()) {
      io.errOut(`tenancykit usage: ${config.error.message}\n`);
      return undefined;
    }
    const databaseUrl = url ?? config?.value.databaseUrl;
    if (databaseUrl === undefined) {
      io.errOut("tenancykit usage: no database: pass --database-url, --pglite or set TENANCY_DATABASE_URL\n");
      return undefined;
    }
    const pg = await import("pg");
    const pool = new pg.default.Pool({ connectionString: databaseUrl, max: 1 });
    return { client: toSqlClient(pool) as SqlClient, close: () => pool.end() };
  } catch (thrown) {
    io.errOut(`tenancykit usage: cannot open the database: ${describeThrown(thrown)}\n`);
    return undefined;
  }
}
