import type { JsonValue } from "./canonical.js";

/** A stored entry's hashed body, read back: every field checked for its type. */
export interface EntryBody {
  readonly action: string;
  readonly actor: { readonly type: string; readonly id: string };
  readonly targets: readonly { readonly type: string; readonly id: string }[];
  readonly outcome: { readonly status: "success" | "failure"; readonly reason?: string };
  readonly context: { readonly requestId?: string };
  readonly metadata: Readonly<Record<string, JsonValue>>;
  readonly occurredAt: string;
  readonly idempotencyKey?: string;
  /** Path → hex commitment of each personal value. */
  readonly commitments: Readonly<Record<string, unknown>>;
  /** Body version: which commitment form (see commitment.ts). */
  readonly v?: unknown;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === "string";
const optionalString = (value: unknown): boolean => value === undefined || typeof value === "string";

/**
 * Parses a stored body, or says why it cannot be read. Rows are read from a
 * database someone may have edited, so nothing about their shape is assumed:
 * a body that is not JSON, or whose fields have the wrong types, is reported
 * here instead of throwing later in whatever code reads the field (query,
 * export and verify must keep working on exactly such rows).
 * `commitments`, `context`, `metadata` and `targets` may be absent (treated
 * as empty), as every body version has written them but none needs them.
 */
export function parseBody(text: unknown): EntryBody | string {
  if (typeof text !== "string") return "the body is not text";
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return "the body is not JSON";
  }
  if (!isRecord(parsed)) return "the body is not a JSON object";
  const { action, actor, outcome, occurredAt, idempotencyKey } = parsed;
  const targets = parsed.targets ?? [];
  const context = parsed.context ?? {};
  const metadata = parsed.metadata ?? {};
  const commitments = parsed.commitments ?? {};
  if (!isString(action)) return "the body has no action";
  if (!isRecord(actor) || !isString(actor.type) || !isString(actor.id)) return "the body has no actor { type, id }";
  if (!isRecord(outcome) || (outcome.status !== "success" && outcome.status !== "failure") || !optionalString(outcome.reason)) {
    return "the body has no valid outcome";
  }
  if (!isString(occurredAt)) return "the body has no occurredAt";
  if (!optionalString(idempotencyKey)) return "the body has a non-string idempotencyKey";
  if (!Array.isArray(targets) || !targets.every((t) => isRecord(t) && isString(t.type) && isString(t.id))) {
    return "the body has malformed targets";
  }
  if (!isRecord(context) || !optionalString(context.requestId)) return "the body has a malformed context";
  if (!isRecord(metadata)) return "the body has malformed metadata";
  if (!isRecord(commitments)) return "the body has malformed commitments";
  return parsed as unknown as EntryBody;
}

/** `type:id`, the form of a target in the `targets` query column (unescaped: see docs/audit.md, "Query"). */
export function targetKey(type: string, id: string): string {
  return `${type}:${id}`;
}

/** The personal column of a row read back, when it has the stored shape: path → `{ value, salt }`. */
export function personalOpenings(personal: unknown): Record<string, { value: JsonValue; salt: unknown }> | null | string {
  if (personal === null || personal === undefined) return null;
  if (!isRecord(personal)) return "the personal column is not an object";
  for (const stored of Object.values(personal)) {
    if (!isRecord(stored) || !("value" in stored)) return "the personal column holds a value without { value, salt }";
  }
  return personal as Record<string, { value: JsonValue; salt: unknown }>;
}
