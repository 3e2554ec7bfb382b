import type { SqlClient } from "../../core/postgres/sql-client.js";
import type { PruneRecord } from "../records.js";

/**
 * Drops each monthly partition that ends at or before `beforeMs`, oldest
 * first. In the same transaction, for every workspace the partition held, it
 * stores a signed prune record naming the last seq dropped and its hash, so
 * verification of what remains starts from a signed anchor.
 */
export async function pruneMonths(
  sql: SqlClient,
  beforeMs: number,
  sign: (p: { workspaceId: string; throughSeq: number; hash: string; partition: string }) => PruneRecord,
  forget: (name: string) => void,
): Promise<PruneRecord[]> {
  const { rows: partitions } = await sql.query<{ name: string; upper_ms: number | null }>(
    `select c.relname as name, (extract(epoch from
       substring(pg_get_expr(c.relpartbound, c.oid) from 'TO \\(''([^'']+)''\\)')::timestamptz) * 1000)::float8 as upper_ms
     from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
     where p.relname = 'audit_entry' order by c.relname`,
  );
  const records: PruneRecord[] = [];
  for (const partition of partitions) {
    if (!/^audit_entry_y\d{4}m\d{2}$/.test(partition.name) || !(partition.upper_ms !== null && Number(partition.upper_ms) <= beforeMs)) continue;
    const made = await sql.transaction(async (tx) => {
      // Lock the table first so no append lands in it between reading its tails and dropping it.
      await tx.query(`lock table ${partition.name} in access exclusive mode`);
      const { rows } = await tx.query<{ workspace_id: string; seq: number; hash: Uint8Array }>(
        `select distinct on (workspace_id) workspace_id::text as workspace_id, seq::float8 as seq, hash
         from ${partition.name} order by workspace_id, seq desc`,
      );
      const signed = rows.map((r) =>
        sign({ workspaceId: r.workspace_id, throughSeq: Number(r.seq), hash: Buffer.from(r.hash).toString("hex"), partition: partition.name }),
      );
      for (const p of signed) {
        await tx.query(
          `insert into audit_prune (workspace_id, through_seq, hash, partition, pruned_at, key_id, signature)
           values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing`,
          [p.workspaceId, p.throughSeq, p.hash, p.partition, p.prunedAt, p.keyId, p.signature],
        );
      }
      await tx.query(`drop table ${partition.name}`);
      return signed;
    });
    forget(partition.name);
    records.push(...made);
  }
  return records;
}
