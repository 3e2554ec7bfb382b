import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { NotSerializableError } from "./errors.js";
import { isWellFormed } from "../core/text.js";

/** A value canonical JSON can hold. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

const MAX_DEPTH = 32;

/**
 * RFC 8785 (JSON Canonicalization Scheme): object members sorted by their
 * UTF-16 code units, no whitespace, numbers in ECMAScript shortest form,
 * strings escaped as ECMAScript JSON.stringify does. Anything JSON cannot hold
 * exactly (NaN, Infinity, undefined members, Dates, class instances, bigint,
 * lone surrogates, cycles, nesting deeper than 32) is an Err, never coerced,
 * because a coerced value would hash differently from what the caller logged.
 */
export function canonicalJson(value: unknown): Result<string, NotSerializableError> {
  const state: WriteState = { out: "", path: [], open: [] };
  let problem: string | undefined;
  try {
    problem = write(value, state, 0);
  } catch (thrown) {
    // Reading the value ran caller code that threw (a getter, a Proxy trap): it cannot be serialised.
    problem = ` could not be read (${thrown instanceof Error ? thrown.message : "it threw"})`;
  }
  if (problem !== undefined) return err(tenancyError("NotSerializable", `${formatPath(state.path)}${problem}`));
  return ok(state.out);
}

/**
 * The output so far, the path to the value being written (only formatted when
 * there is a problem, so the happy path builds no path strings), and the
 * objects being written (a cycle check; at most MAX_DEPTH long).
 */
interface WriteState {
  out: string;
  readonly path: (string | number)[];
  readonly open: object[];
}

function formatPath(path: readonly (string | number)[]): string {
  let text = "$";
  for (const part of path) text += typeof part === "number" ? `[${part}]` : `.${part}`;
  return text;
}

/** Appends `value` to `state.out`; returns a problem (to follow the path) or undefined. */
function write(value: unknown, state: WriteState, depth: number): string | undefined {
  if (value === null) {
    state.out += "null";
    return undefined;
  }
  switch (typeof value) {
    case "boolean":
      state.out += value ? "true" : "false";
      return undefined;
    case "number":
      if (!Number.isFinite(value)) return ` is ${String(value)}, which JSON cannot represent`;
      // ECMAScript Number serialisation is exactly what RFC 8785 §3.2.2.3 requires; -0 becomes 0.
      state.out += JSON.stringify(value);
      return undefined;
    case "string":
      if (!isWellFormed(value)) return " holds a lone surrogate (not valid Unicode)";
      state.out += JSON.stringify(value);
      return undefined;
    case "object":
      break;
    default:
      return ` is a ${typeof value}, which JSON cannot represent`;
  }
  if (depth >= MAX_DEPTH) return ` nests deeper than ${MAX_DEPTH} levels`;
  const object = value as object;
  if (state.open.includes(object)) return " is a circular reference";
  if (Array.isArray(object)) {
    state.open.push(object);
    state.out += "[";
    for (let i = 0; i < object.length; i++) {
      if (i > 0) state.out += ",";
      state.path.push(i);
      const problem = write(object[i] as unknown, state, depth + 1);
      if (problem !== undefined) return problem;
      state.path.pop();
    }
    state.out += "]";
    state.open.pop();
    return undefined;
  }
  const proto = Object.getPrototypeOf(object) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (object as { constructor?: { name?: string } }).constructor?.name ?? "object";
    return ` is a ${name}; pass plain objects, arrays, strings, finite numbers, booleans or null`;
  }
  // The default sort compares by UTF-16 code units: RFC 8785 §3.2.3's order.
  const keys = Object.keys(object).sort();
  state.open.push(object);
  state.out += "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const member = (object as Record<string, unknown>)[key];
    if (member === undefined) return `.${key} is undefined (omit the member instead)`;
    if (!isWellFormed(key)) return " has a key with a lone surrogate";
    if (i > 0) state.out += ",";
    state.out += JSON.stringify(key);
    state.out += ":";
    state.path.push(key);
    const problem = write(member, state, depth + 1);
    if (problem !== undefined) return problem;
    state.path.pop();
  }
  state.out += "}";
  state.open.pop();
  return undefined;
}
