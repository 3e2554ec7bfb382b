import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { NotSerializableError } from "./errors.js";

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
  const parts: string[] = [];
  const problem = write(value, parts, "$", 0, new Set());
  if (problem !== undefined) return err(tenancyError("NotSerializable", problem));
  return ok(parts.join(""));
}

/** Sort order of RFC 8785 §3.2.3: by UTF-16 code units, which is JS's default string comparison. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(value: unknown, out: string[], path: string, depth: number, seen: Set<object>): string | undefined {
  if (value === null) {
    out.push("null");
    return undefined;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return undefined;
    case "number":
      if (!Number.isFinite(value)) return `${path} is ${String(value)}, which JSON cannot represent`;
      // ECMAScript Number serialisation is exactly what RFC 8785 §3.2.2.3 requires; -0 becomes 0.
      out.push(JSON.stringify(value));
      return undefined;
    case "string":
      if (!isWellFormed(value)) return `${path} holds a lone surrogate (not valid Unicode)`;
      out.push(JSON.stringify(value));
      return undefined;
    case "object":
      break;
    default:
      return `${path} is a ${typeof value}, which JSON cannot represent`;
  }
  if (depth >= MAX_DEPTH) return `${path} nests deeper than ${MAX_DEPTH} levels`;
  const object = value as object;
  if (seen.has(object)) return `${path} is a circular reference`;
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      out.push("[");
      for (let i = 0; i < object.length; i++) {
        if (i > 0) out.push(",");
        const problem = write(object[i] as unknown, out, `${path}[${i}]`, depth + 1, seen);
        if (problem !== undefined) return problem;
      }
      out.push("]");
      return undefined;
    }
    const proto = Object.getPrototypeOf(object) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? "object";
      return `${path} is a ${name}; pass plain objects, arrays, strings, finite numbers, booleans or null`;
    }
    const keys = Object.keys(object).sort(compareKeys);
    out.push("{");
    let first = true;
    for (const key of keys) {
      const member = (object as Record<string, unknown>)[key];
      if (member === undefined) return `${path}.${key} is undefined (omit the member instead)`;
      if (!isWellFormed(key)) return `${path} has a key with a lone surrogate`;
      if (!first) out.push(",");
      first = false;
      out.push(JSON.stringify(key), ":");
      const problem = write(member, out, `${path}.${key}`, depth + 1, seen);
      if (problem !== undefined) return problem;
    }
    out.push("}");
    return undefined;
  } finally {
    seen.delete(object);
  }
}

// A lone surrogate has no UTF-8 encoding: two different strings would hash the same.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** False for strings with a lone surrogate (they have no UTF-8 form, so they cannot be hashed faithfully). */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
