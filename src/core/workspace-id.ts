import { err, ok, type Result } from "neverthrow";
import { tenancyError, type InvalidWorkspaceIdError } from "./errors.js";

declare const workspaceIdBrand: unique symbol;

/**
 * A workspace id that has been checked to be a UUID and normalised to lower
 * case. Only `parseWorkspaceId` makes one, so a function that takes a
 * `WorkspaceId` never needs to validate again.
 */
export type WorkspaceId = string & { readonly [workspaceIdBrand]: true };

const UUID_LENGTH = 36;
const HYPHEN = 0x2d;

/** 1 for each char code that is a hex digit, 2 for upper-case A–F (needs lowering). */
const HEX_CLASS = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x66; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x46; c++) table[c] = 2;
  return table;
})();

/**
 * Parses a workspace id: any UUID version (Dittofeed uses v4 and v5, as
 * `uuid.validate` accepts), case-insensitive, returned in lower case.
 * Surrounding whitespace, non-strings and empty input are rejected rather
 * than repaired, because a silently trimmed id hides a bug upstream.
 *
 * A hand-written scan rather than a regular expression: it is the first call
 * on every hot path, and the scan both validates and detects upper case in one
 * pass, so the common lower-case id is returned without a copy.
 *
 * @example
 * const id = parseWorkspaceId(request.headers["x-workspace-id"]);
 * if (id.isErr()) return reply.code(400).send(id.error);
 */
export function parseWorkspaceId(input: unknown): Result<WorkspaceId, InvalidWorkspaceIdError> {
  if (typeof input !== "string") {
    return err(
      tenancyError("InvalidWorkspaceId", `workspace id must be a UUID string, got ${describeType(input)}`),
    );
  }
  if (input.length !== UUID_LENGTH) {
    return err(invalidId(input));
  }
  let needsLowering = false;
  for (let i = 0; i < UUID_LENGTH; i++) {
    const code = input.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (code !== HYPHEN) return err(invalidId(input));
      continue;
    }
    const cls = code < 128 ? HEX_CLASS[code] : 0;
    if (cls === 0) return err(invalidId(input));
    if (cls === 2) needsLowering = true;
  }
  return ok((needsLowering ? input.toLowerCase() : input) as WorkspaceId);
}

/** True when `input` is already a normalised workspace id (lower-case UUID). */
export function isWorkspaceId(input: unknown): input is WorkspaceId {
  const parsed = parseWorkspaceId(input);
  return parsed.isOk() && parsed.value === input;
}

function invalidId(input: string): InvalidWorkspaceIdError {
  const shown = input.length > 64 ? `${input.slice(0, 64)}…` : input;
  const reason =
    input.length === 0
      ? "it is empty"
      : input.trim() !== input
        ? "it has surrounding whitespace"
        : "it is not a UUID (8-4-4-4-12 hex digits)";
  return tenancyError("InvalidWorkspaceId", `invalid workspace id ${JSON.stringify(shown)}: ${reason}`);
}

function describeType(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "an array";
  return typeof input;
}
