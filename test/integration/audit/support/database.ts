import pg from "pg";
import { migrateAuditTables } from "../../../../src/audit/postgres.js";
import { monthBounds, partitionName } from "../../../../src/audit/store.js";
import { createTestDatabase } from "../../../support/postgres-server.js";

/**
 * A database of its own with the audit tables and the partitions around now,
 * as the store creates them: for tests that call the batch-append functions
 * directly, which write into them.
 */
export async function auditFunctionDatabase(serverUrl: string, name: string): Promise<{ pool: pg.Pool; drop: () => Promise<void> }> {
  const database = await createTestDatabase(serverUrl, name);
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on("error", () => undefined);
  (await migrateAuditTables(pool))._unsafeUnwrap();
  // This month's, and the neighbouring month's near a month boundary (tests write a minute back, or seconds ahead).
  const DAY = 86_400_000;
  const months = new Map([-DAY, 0, DAY].map((offset) => [partitionName(Date.now() + offset), Date.now() + offset]));
  for (const [name, at] of months) {
    const { start, end } = monthBounds(at);
    await pool.query(
      `create table if not exists ${name} partition of audit_entry for values from ('${new Date(start).toISOString()}') to ('${new Date(end).toISOString()}')`,
    );
  }
  return {
    pool,
    drop: async () => {
      await pool.end();
      await database.drop();
    },
  };
}
