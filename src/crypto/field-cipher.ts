import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import { authFailed, type CryptoError } from "./errors.js";
import { aadBuffer, contextBytes, HEADER_BYTES, OVERHEAD_BYTES, PREFIX_BYTES, writeHeader, type Envelope } from "./format.js";
import type { NonceSource } from "./nonce-source.js";
import type { PreparedKey, SuiteCodec } from "./suites/suite.js";

/**
 * The synchronous core of one (workspace, purpose) pair: its associated data
 * is built once, and sealing/opening with a given key allocates only the
 * output. Everything here runs to completion without awaiting, so the shared
 * AAD scratch buffer cannot be seen half-written.
 */
export class FieldCore {
  readonly workspaceId: WorkspaceId;
  readonly purpose: string;
  readonly #aad: Uint8Array;

  constructor(workspaceId: WorkspaceId, purpose: string) {
    this.workspaceId = workspaceId;
    this.purpose = purpose;
    this.#aad = aadBuffer(contextBytes(workspaceId, purpose));
  }

  /** Seals `plaintext` into a fresh envelope under `key` (version `version`). */
  seal(codec: SuiteCodec, version: number, key: PreparedKey, nonces: NonceSource, plaintext: Uint8Array): Uint8Array {
    const out = new Uint8Array(OVERHEAD_BYTES + plaintext.length);
    writeHeader(out, codec.id, version);
    const aad = this.#aad;
    for (let i = 0; i < HEADER_BYTES; i++) aad[i] = out[i] ?? 0;
    nonces.fill(out, HEADER_BYTES);
    codec.seal(key, out.subarray(HEADER_BYTES, PREFIX_BYTES), aad, plaintext, out, PREFIX_BYTES);
    return out;
  }

  /** Opens a parsed envelope; AuthFailed (never any plaintext) when the tag does not verify. */
  open(codec: SuiteCodec, key: PreparedKey, envelope: Envelope): Result<Uint8Array, CryptoError> {
    const aad = this.#aad;
    aad.set(envelope.header, 0);
    const plaintext = codec.open(key, envelope.nonce, aad, envelope.sealed);
    return plaintext === undefined ? err(authFailed(this.workspaceId)) : ok(plaintext);
  }
}

/** Checks a plaintext's type and size; strings are UTF-8 encoded. */
export function plaintextBytes(
  input: unknown,
  limits: { readonly maxBytes: number; readonly allowEmpty: boolean },
  workspaceId: string,
): Result<Uint8Array, CryptoError> {
  let bytes: Uint8Array;
  // The common case first, without building anything.
  if (input instanceof Uint8Array && input.length <= limits.maxBytes && (input.length > 0 || limits.allowEmpty)) return ok(input);
  if (input instanceof Uint8Array) bytes = input;
  else if (typeof input === "string") {
    if (input.length > limits.maxBytes) return err(tooLarge(input.length, limits.maxBytes, workspaceId));
    bytes = Buffer.from(input, "utf8");
  } else {
    return err(tenancyError("InvalidInput", `plaintext must be a Uint8Array or a string, got ${describe(input)}`, { workspaceId }));
  }
  if (bytes.length > limits.maxBytes) return err(tooLarge(bytes.length, limits.maxBytes, workspaceId));
  if (bytes.length === 0 && !limits.allowEmpty) {
    return err(tenancyError("PlaintextSize", "plaintext is empty (set allowEmpty to encrypt empty values)", { workspaceId }));
  }
  return ok(bytes);
}

function tooLarge(size: number, max: number, workspaceId: string) {
  return tenancyError("PlaintextSize", `plaintext is ${size} bytes; the maximum is ${max}`, { workspaceId });
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  return typeof value;
}

/** Public calls take one object; anything else is a typed InvalidInput (never a TypeError from a property read). */
export function notAnObject(input: unknown, what: string): CryptoError | undefined {
  if (typeof input === "object" && input !== null) return undefined;
  return tenancyError("InvalidInput", `${what} expects one object argument, got ${describe(input)}`);
}

/** True for arrays, other iterables and async iterables (what row streams may be). */
export function isRowSource(rows: unknown): boolean {
  return typeof rows === "object" && rows !== null && (Symbol.iterator in rows || Symbol.asyncIterator in rows);
}
