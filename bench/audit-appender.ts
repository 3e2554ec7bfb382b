import pg from "pg";
import { AuditLogger } from "../src/audit/logger.js";
import { PostgresAuditStore } from "../src/audit/postgres/store.js";
import { toSqlClient } from "../src/core/postgres/sql-client.js";
import { opsPerSecondConcurrent } from "./harness.js";

/**
 * One appending process for audit-processes.bench.ts: argv is the database URL and the JSON
 * list of workspaces. Each message `{ total, callers }` runs that many appends from that many
 * callers (each awaiting its append) and answers with the appends per second.
 */
const [url, workspacesJson] = process.argv.slice(2);
const workspaces = JSON.parse(workspacesJson as string) as string[];
const pool = new pg.Pool({ connectionString: url, max: 8 });
const sql = toSqlClient(pool);
if (sql === undefined) throw new Error("no sql client");
const audit = new AuditLogger({ store: new PostgresAuditStore(sql), batch: { maxRows: 500, lingerMs: 2 } });
let counter = 0;

process.on("message", (message: { total: number; callers: number } | "stop") => {
  if (message === "stop") {
    void audit.close().then(() => pool.end()).then(() => process.exit(0));
    return;
  }
  void opsPerSecondConcurrent(message.total, message.callers, async () => {
    const i = counter++;
    const r = await audit.append({
      workspaceId: workspaces[i % workspaces.length] as string,
      actor: { type: "member", id: `member-${i % 50}` },
      action: "journey.updated",
      targets: [{ type: "journey", id: `j${i % 1000}` }],
      metadata: { version: i % 7 },
    });
    if (r.isErr()) throw new Error(r.error.message);
  }).then((rate) => process.send?.(rate));
});
process.send?.("ready");
