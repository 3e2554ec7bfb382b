import { err, ok, type Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import { describeThrown, tenancyError } from "../core/errors.js";
import type { RandomSource } from "../core/random.js";
import { parseWorkspaceId } from "../core/workspace-id.js";
import { isWellFormed } from "../core/text.js";
import { canonicalJson, type JsonValue } from "./canonical.js";
import type { AuditError } from "./errors.js";
import { BODY_VERSION, commitCanonical } from "./commitment.js";
import type { AuditEventInput, PersonalValue, PreparedEvent } from "./event.js";

/** Size limits applied to every event. */
export interface AuditLimits {
  /** Canonical UTF-8 bytes of `metadata` (and, separately, of `personal`). @default 16384 */
  readonly maxMetadataBytes: number;
  /** Longest id, type, request id or reason string. @default 512 */
  readonly maxFieldLength: number;
  /** Most targets per event. @default 32 */
  readonly maxTargets: number;
}

export const DEFAULT_LIMITS: AuditLimits = { maxMetadataBytes: 16_384, maxFieldLength: 512, maxTargets: 32 };

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** JSON's escape of U+0000, not preceded by an escaped backslash. */
const ESCAPED_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/** `[{"id":…,"type":…},…]`: canonical JSON of checked targets (strings only, keys in order). */
function targetsJson(targets: readonly { type: string; id: string }[]): string {
  let out = "[";
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as { type: string; id: string };
    out += `${i > 0 ? "," : ""}{"id":${JSON.stringify(t.id)},"type":${JSON.stringify(t.type)}}`;
  }
  return `${out}]`;
}

/**
 * A string field: returns it when valid, else records why in `problems`.
 * Module level and called directly (no closure per event); a target's field
 * passes its index, so `targets[i].type` is only formatted for a problem.
 */
function checkText(
  value: unknown,
  field: string,
  required: boolean,
  limits: AuditLimits,
  problems: string[],
  target?: number,
): string | undefined {
  if (value === undefined && !required) return undefined;
  let problem: string;
  if (typeof value !== "string" || value.length === 0) problem = "must be a non-empty string";
  else if (value.length > limits.maxFieldLength) problem = `is longer than ${limits.maxFieldLength}`;
  else if (!isWellFormed(value)) problem = "holds a lone surrogate (not valid Unicode)";
  else if (value.includes("\u0000")) problem = "holds U+0000, which Postgres text cannot store";
  else return value;
  problems.push(`${target === undefined ? field : `targets[${target}].${field}`} ${problem}`);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates an event and builds its canonical body. Every problem is listed in
 * one `InvalidAuditEvent`; oversized metadata is `AuditEventTooLarge`;
 * unrepresentable values are `NotSerializable`. Nothing is written on Err.
 */
export function prepareEvent(
  input: unknown,
  limits: AuditLimits,
  clock: Clock,
  random: RandomSource,
): Result<PreparedEvent, AuditError> {
  try {
    return prepare(input, limits, clock, random);
  } catch (thrown) {
    // Reading the event ran caller code that threw (a getter, a Proxy trap): nothing was written.
    return err(invalid([`the event could not be read (${describeThrown(thrown)})`]));
  }
}

/** Milliseconds of a Date or a number; NaN for anything else, an object that only claims to be a Date included. */
export function timeOf(value: unknown): number {
  if (typeof value === "number") return value;
  if (!(value instanceof Date)) return Number.NaN;
  try {
    return value.getTime();
  } catch {
    return Number.NaN;
  }
}

function prepare(input: unknown, limits: AuditLimits, clock: Clock, random: RandomSource): Result<PreparedEvent, AuditError> {
  if (!isRecord(input)) return err(invalid(["the event must be an object"]));
  const workspace = parseWorkspaceId(input.workspaceId);
  if (workspace.isErr()) return err(workspace.error);
  const workspaceId = workspace.value;
  const problems: string[] = [];

  const actor = input.actor;
  let actorType: string | undefined;
  let actorId: string | undefined;
  let actorDisplay: string | undefined;
  if (!isRecord(actor)) problems.push("actor is required ({ type, id })");
  else {
    actorType = checkText(actor.type, "actor.type", true, limits, problems);
    actorId = checkText(actor.id, "actor.id", true, limits, problems);
    actorDisplay = checkText(actor.display, "actor.display", false, limits, problems);
  }
  const action = input.action;
  if (typeof action !== "string" || !ACTION.test(action) || action.length > 128) {
    problems.push('action is required: dotted lower-case like "journey.updated" (at most 128 characters)');
  }

  const targets: { type: string; id: string }[] = [];
  if (input.targets !== undefined) {
    if (!Array.isArray(input.targets)) problems.push("targets must be an array");
    else if (input.targets.length > limits.maxTargets) problems.push(`at most ${limits.maxTargets} targets`);
    else
      for (let i = 0; i < input.targets.length; i++) {
        const t: unknown = input.targets[i];
        if (!isRecord(t)) {
          problems.push(`targets[${i}] must be { type, id }`);
          continue;
        }
        const type = checkText(t.type, "type", true, limits, problems, i);
        const id = checkText(t.id, "id", true, limits, problems, i);
        if (type !== undefined && id !== undefined) targets.push({ type, id });
      }
  }

  let outcome: { status: "success" | "failure"; reason?: string } = { status: "success" };
  if (input.outcome !== undefined) {
    const o = input.outcome;
    if (!isRecord(o) || (o.status !== "success" && o.status !== "failure")) {
      problems.push('outcome.status must be "success" or "failure"');
    } else {
      const reason = checkText(o.reason, "outcome.reason", false, limits, problems);
      outcome = reason === undefined ? { status: o.status } : { status: o.status, reason };
    }
  }

  const context: Record<string, string> = {};
  const personalInput: Record<string, JsonValue> = {};
  if (actorDisplay !== undefined) personalInput["actor.display"] = actorDisplay;
  if (input.context !== undefined) {
    if (!isRecord(input.context)) problems.push("context must be an object");
    else {
      const requestId = checkText(input.context.requestId, "context.requestId", false, limits, problems);
      if (requestId !== undefined) context.requestId = requestId;
      const ip = checkText(input.context.ip, "context.ip", false, limits, problems);
      if (ip !== undefined) personalInput["context.ip"] = ip;
      const userAgent = checkText(input.context.userAgent, "context.userAgent", false, limits, problems);
      if (userAgent !== undefined) personalInput["context.userAgent"] = userAgent;
    }
  }

  let occurredAtMs = clock.now();
  if (input.occurredAt !== undefined) {
    const o = input.occurredAt;
    const ms = typeof o === "string" ? Date.parse(o) : timeOf(o);
    if (!Number.isFinite(ms) || ms < 0 || ms > 253402300799999) problems.push("occurredAt must be a valid date");
    else occurredAtMs = Math.trunc(ms);
  }
  const idempotencyKey = checkText(input.idempotencyKey, "idempotencyKey", false, limits, problems) ?? null;

  for (const field of ["metadata", "personal"] as const) {
    if (input[field] !== undefined && !isRecord(input[field])) problems.push(`${field} must be an object`);
  }
  if (problems.length > 0) return err(invalid(problems, workspaceId));

  const metadata = canonicalJson(input.metadata ?? {});
  if (metadata.isErr()) return err({ ...metadata.error, message: `metadata: ${metadata.error.message}`, workspaceId });
  if (Buffer.byteLength(metadata.value) > limits.maxMetadataBytes) return err(tooLarge("metadata", limits, workspaceId));
  if (isRecord(input.personal)) {
    const personalJson = canonicalJson(input.personal);
    if (personalJson.isErr()) return err({ ...personalJson.error, message: `personal: ${personalJson.error.message}`, workspaceId });
    if (Buffer.byteLength(personalJson.value) > limits.maxMetadataBytes) return err(tooLarge("personal", limits, workspaceId));
    // Personal values are stored as jsonb, which has no U+0000 (metadata is only in the text body: fine).
    if (ESCAPED_NUL.test(personalJson.value)) {
      return err(tenancyError("NotSerializable", "personal holds U+0000, which Postgres jsonb cannot store", { workspaceId }));
    }
    for (const [key, value] of Object.entries(input.personal as Record<string, JsonValue>)) personalInput[`personal.${key}`] = value;
  }

  const personal: Record<string, PersonalValue> = {};
  const paths = Object.keys(personalInput);
  const commitments: [path: string, hex: string][] = [];
  // The personal column's JSON, from the same canonical pieces (jsonb ignores member order).
  let personalJson = "{";
  // One call for every salt of the event: the random source is the costliest part of preparing it.
  const drawn = paths.length > 0 ? random.bytes(16 * paths.length) : undefined;
  const salts = drawn === undefined ? undefined : Buffer.from(drawn.buffer, drawn.byteOffset, drawn.byteLength);
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i] as string;
    const value = personalInput[path] as JsonValue;
    const salt = (salts as Buffer).subarray(i * 16, i * 16 + 16);
    const saltHex = salt.toString("hex");
    personal[path] = { value, salt: saltHex };
    // Strings (every built-in personal field) are already checked: their canonical form is JSON.stringify's.
    const canonical = typeof value === "string" ? JSON.stringify(value) : canonicalJson(value)._unsafeUnwrap();
    commitments.push([path, commitCanonical(path, canonical, salt)]);
    personalJson += `${i > 0 ? "," : ""}${JSON.stringify(path)}:{"value":${canonical},"salt":"${saltHex}"}`;
  }
  // The body's canonical JSON, assembled from canonical pieces in RFC 8785 key order
  // (action, actor, commitments, context, idempotencyKey, metadata, occurredAt, outcome, targets, v)
  // rather than re-serialising values that are already checked (strings) or canonical (metadata).
  // The unit tests check it equals canonicalJson of itself for any input.
  const body =
    `{"action":${JSON.stringify(action)},"actor":{"id":${JSON.stringify(actorId)},"type":${JSON.stringify(actorType)}},` +
    `"commitments":${commitmentsJson(commitments)},` +
    `"context":${context.requestId === undefined ? "{}" : `{"requestId":${JSON.stringify(context.requestId)}}`},` +
    (idempotencyKey !== null ? `"idempotencyKey":${JSON.stringify(idempotencyKey)},` : "") +
    `"metadata":${metadata.value},"occurredAt":"${new Date(occurredAtMs).toISOString()}",` +
    `"outcome":${outcome.reason === undefined ? `{"status":"${outcome.status}"}` : `{"reason":${JSON.stringify(outcome.reason)},"status":"${outcome.status}"}`},` +
    `"targets":${targetsJson(targets)},"v":${BODY_VERSION}}`;
  return ok({
    workspaceId,
    idempotencyKey,
    body,
    personal: paths.length > 0 ? personal : null,
    personalJson: paths.length > 0 ? `${personalJson}}` : null,
    index: {
      actorType: actorType as string,
      actorId: actorId as string,
      action: action as string,
      outcome: outcome.status,
      occurredAtMs,
      targets: targets.map((t) => `${t.type}:${t.id}`),
    },
  });
}

/**
 * `{"path":"hex",…}` in RFC 8785 member order (UTF-16 code units, which is how
 * JavaScript compares strings), written directly: every path is a checked
 * string (a built-in name, or a personal key canonicalJson accepted) and every
 * value is hex, so nothing needs the general serialiser.
 */
function commitmentsJson(pairs: [path: string, hex: string][]): string {
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = "{";
  for (let i = 0; i < pairs.length; i++) {
    const [path, hex] = pairs[i] as [string, string];
    out += `${i > 0 ? "," : ""}${JSON.stringify(path)}:"${hex}"`;
  }
  return `${out}}`;
}

function invalid(problems: string[], workspaceId?: string): AuditError {
  return {
    ...tenancyError("InvalidAuditEvent", `invalid audit event: ${problems.join("; ")}`, { workspaceId }),
    problems,
  };
}

function tooLarge(field: string, limits: AuditLimits, workspaceId: string): AuditError {
  return tenancyError("AuditEventTooLarge", `${field} is larger than ${limits.maxMetadataBytes} bytes of canonical JSON`, {
    workspaceId,
  });
}
