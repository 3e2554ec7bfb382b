import { sqlStateOf } from "../../core/postgres/result.js";
import type { SqlClient } from "../../core/postgres/sql-client.js";
import { monthBounds, partitionName } from "../store.js";

/**
 * Creates monthly partitions of audit_entry on demand, outside the append
 * transaction (DDL takes a lock on the parent table that would serialise
 * every workspace). Several processes may race to create the same month:
 * "already exists" is success.
 */
export class PartitionManager {
  readonly #ready = new Set<string>();

  constructor(private readonly sql: SqlClient) {}

  has(ms: number): boolean {
    return this.#ready.has(partitionName(ms));
  }

  async ensure(ms: number): Promise<void> {
    const name = partitionName(ms);
    if (this.#ready.has(name)) return;
    const { start, end } = monthBounds(ms);
    try {
      await this.sql.exec(
        `create table if not exists ${name} partition of audit_entry for values from ('${new Date(start).toISOString()}') to ('${new Date(end).toISOString()}')`,
      );
    } catch (thrown) {
      const code = sqlStateOf(thrown);
      // 42P07 duplicate table, 23505 duplicate pg_type row: another process created it first.
      if (code !== "42P07" && code !== "23505") throw thrown;
    }
    this.#ready.add(name);
  }

  forget(name: string): void {
    this.#ready.delete(name);
  }
}
