import type { PersonalValue, StoredEntry } from "../event.js";

/** The select list every entry read uses; numbers come back as float8 so pg and PGlite agree. */
export const ENTRY_COLUMNS = `workspace_id::text as workspace_id, seq::float8 as seq,
  (extract(epoch from recorded_at) * 1000)::float8 as recorded_at_ms, prev_hash, hash, body, personal,
  idempotency_key, actor_type, actor_id, action, outcome,
  (extract(epoch from occurred_at) * 1000)::float8 as occurred_at_ms, targets`;

export interface EntryRow {
  workspace_id: string;
  seq: number;
  recorded_at_ms: number;
  prev_hash: Uint8Array;
  hash: Uint8Array;
  body: string;
  personal: Record<string, PersonalValue> | string | null;
  idempotency_key: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  outcome: string;
  occurred_at_ms: number;
  targets: string[] | string;
}

function json<T>(value: T | string): T {
  return typeof value === "string" ? (JSON.parse(value) as T) : value;
}

export function toStoredEntry(row: EntryRow): StoredEntry {
  return {
    workspaceId: row.workspace_id,
    seq: Number(row.seq),
    recordedAtMs: Math.round(Number(row.recorded_at_ms)),
    prevHash: Buffer.from(row.prev_hash),
    hash: Buffer.from(row.hash),
    body: row.body,
    personal: row.personal === null ? null : json(row.personal),
    idempotencyKey: row.idempotency_key,
    index: {
      actorType: row.actor_type,
      actorId: row.actor_id,
      action: row.action,
      outcome: row.outcome === "failure" ? "failure" : "success",
      occurredAtMs: Math.round(Number(row.occurred_at_ms)),
      targets: json(row.targets),
    },
  };
}

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
