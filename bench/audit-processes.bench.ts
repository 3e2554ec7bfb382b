import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrateAuditTables } from "../src/audit/postgres.js";
import { startPostgres } from "../test/support/postgres-server.js";
import type { BenchContext } from "./harness.js";

/**
 * Informational (no issue sets a goal here): AuditLogger when 4 processes append to the same
 * 16 workspaces at once (16 callers each, each awaiting its append), against one process with
 * all 64 callers. Every batch then needs heads another process is moving; the shared heads
 * serialise them, so 4 processes cannot match one. The goal, 0.25, is a floor this project set
 * so that a return to the old behaviour (about 0.07: each batch chained in Node on stale heads,
 * rolled back and written again) shows as MISSES.
 */
const PROCESSES = 4;
const CALLERS = 64;

export default async function auditProcessesBench(ctx: BenchContext): Promise<void> {
  const server = await startPostgres();
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  const workspaces = Array.from({ length: 16 }, () => randomUUID());
  const children: ChildProcess[] = [];
  try {
    (await migrateAuditTables(pool))._unsafeUnwrap();
    const script = fileURLToPath(new URL("./audit-appender.ts", import.meta.url));
    for (let i = 0; i < PROCESSES; i++) {
      const child = fork(script, [server.url, JSON.stringify(workspaces)], { execArgv: ["--import", "tsx"] });
      children.push(child);
      await new Promise((resolve) => child.once("message", resolve));
    }
    const total = ctx.size(8_000, 2_000);
    /** Appends per second of all `count` processes together, `total` appends each split among them. */
    const run = async (count: number): Promise<number> => {
      const start = process.hrtime.bigint();
      await Promise.all(
        children.slice(0, count).map(
          (child) =>
            new Promise((resolve) => {
              child.once("message", resolve);
              child.send({ total: Math.floor(total / count), callers: CALLERS / count });
            }),
        ),
      );
      return (count * Math.floor(total / count)) / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    await ctx.compare({
      id: "audit.append.processes",
      note: `${PROCESSES} processes x ${CALLERS / PROCESSES} callers on the same 16 workspaces vs 1 process x ${CALLERS} callers (informational floor, no issue goal)`,
      unit: "appends/s",
      higherIsBetter: true,
      goal: 0.25,
      ours: () => run(PROCESSES),
      peer: { name: `1 process, ${CALLERS} callers`, measure: () => run(1) },
    });
  } finally {
    for (const child of children) child.send("stop");
    await Promise.all(children.map((child) => new Promise((resolve) => child.once("exit", resolve))));
    await pool.end();
    await server.stop();
  }
}
