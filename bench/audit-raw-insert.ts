import type { StoredEntry } from "../src/audit/event.js";

/*
 * The audit benchmark's raw-insert peer: the same rows the store writes, sent as one
 * multi-row `insert … select from unnest(…)` with no hashing, chaining or locking.
 * (The store itself no longer writes this way; see src/audit/postgres/chain-plan.ts.)
 */

/** Column arrays for one multi-row `insert … select from unnest(…)`. */
export function entryArrays(entries: readonly StoredEntry[]): unknown[] {
  const cols: unknown[][] = Array.from({ length: 14 }, () => []);
  for (const e of entries) {
    cols[0]?.push(e.workspaceId);
    cols[1]?.push(e.seq);
    cols[2]?.push(new Date(e.recordedAtMs).toISOString());
    cols[3]?.push(Buffer.from(e.prevHash).toString("hex"));
    cols[4]?.push(Buffer.from(e.hash).toString("hex"));
    cols[5]?.push(e.body);
    cols[6]?.push(e.personal === null ? null : JSON.stringify(e.personal));
    cols[7]?.push(e.idempotencyKey);
    cols[8]?.push(e.index.actorType);
    cols[9]?.push(e.index.actorId);
    cols[10]?.push(e.index.action);
    cols[11]?.push(e.index.outcome);
    cols[12]?.push(new Date(e.index.occurredAtMs).toISOString());
    cols[13]?.push(JSON.stringify(e.index.targets));
  }
  return cols;
}

export const INSERT_ENTRIES = `insert into audit_entry (workspace_id, seq, recorded_at, prev_hash, hash, body, personal,
  idempotency_key, actor_type, actor_id, action, outcome, occurred_at, targets)
  select w, s, r, decode(p, 'hex'), decode(h, 'hex'), b, pe::jsonb, k, at, ai, ac, o, oc, t::jsonb
  from unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[])
    as u(w, s, r, p, h, b, pe, k, at, ai, ac, o, oc, t)`;
