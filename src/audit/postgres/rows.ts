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
