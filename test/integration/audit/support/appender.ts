/**
 * A child process that appends audit events to a real Postgres as fast as it
 * can and prints one `ack <eventId> <seq>` line per acknowledged append.
 * stdout on a pipe is synchronous on Linux, so every line printed before a
 * SIGKILL reaches the parent: the parent's list of acknowledged events is
 * exact. Bundled with esbuild by the tests so a respawn costs ~100 ms.
 *
 * argv[2] is JSON: { url, workspaces, tag, inFlight, total?, waitForGo? } (total absent = run until killed).
 */
import pg from "pg";
import { AuditLogger } from "../../../../src/audit/logger.js";
import { PostgresAuditStore } from "../../../../src/audit/postgres/store.js";
import { toSqlClient } from "../../../../src/core/postgres/sql-client.js";

interface Args {
  url: string;
  workspaces: string[];
  tag: string;
  inFlight: number;
  total?: number;
  /** Wait for a "go" line on stdin before appending (a warm spare process). */
  waitForGo?: boolean;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const pool = new pg.Pool({ connectionString: args.url, max: 2 }); // one batch in flight needs one connection
const sql = toSqlClient(pool);
if (sql === undefined) throw new Error("no sql client");
const store = new PostgresAuditStore(sql);
const audit = new AuditLogger({ store, batch: { lingerMs: 1, maxRows: 200 } });

let next = 0;
const out = (line: string) => process.stdout.write(`${line}\n`);

async function worker(): Promise<void> {
  for (;;) {
    const n = next++;
    if (args.total !== undefined && n >= args.total) return;
    const eventId = `${args.tag}-${n}`;
    const workspaceId = args.workspaces[n % args.workspaces.length] as string;
    const result = await audit.append({
      workspaceId,
      actor: { type: "member", id: `m${n % 7}`, display: `user${n % 7}@example.com` },
      action: "journey.updated",
      targets: [{ type: "journey", id: `j${n % 13}` }],
      metadata: { eventId, n },
    });
    if (result.isErr()) {
      out(`err ${eventId} ${result.error.type} ${result.error.message.replace(/\n/g, " ")}`);
      continue;
    }
    out(`ack ${eventId} ${workspaceId} ${result.value.seq}`);
  }
}

// Warm up before "ready": open all pool connections and create this month's partition,
// so a kill point measures appending, not process start-up.
await Promise.all([1, 2].map(() => pool.query("select 1")));
const warm = await store.appendBatch([], Date.now());
if (warm.isErr()) throw new Error(warm.error.message);
out("ready");
if (args.waitForGo) {
  await new Promise<void>((resolve) => {
    let seen = "";
    process.stdin.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes("go\n")) resolve();
    });
  });
  process.stdin.pause();
}
await Promise.all(Array.from({ length: args.inFlight }, worker));
await audit.close();
await pool.end();
out("done");
