import { err, ok, type Result } from "neverthrow";
import { malformed, type MalformedCiphertextError, type UnsupportedSuiteError, type UnsupportedVersionError } from "./errors.js";
import { tenancyError } from "../core/errors.js";
import { NONCE_BYTES, SUITE_XAES_256_GCM, SUITE_XCHACHA20_POLY1305, TAG_BYTES, type SuiteId } from "./suites/suite.js";

/**
 * Ciphertext format v1 (all integers big-endian):
 *
 *   offset 0   1 B   format version (0x01)
 *   offset 1   1 B   suite (0x01 XChaCha20-Poly1305, 0x02 XAES-256-GCM)
 *   offset 2   4 B   data key version (u32, ≥ 1)
 *   offset 6  24 B   random nonce
 *   offset 30  n B   ciphertext
 *   last      16 B   tag
 *
 * 46 bytes of overhead. The text form (for text columns) is `tc1.` followed
 * by the unpadded base64url of those bytes. The workspace id and purpose are
 * not stored: they are bound as associated data (see `associatedData`), so an
 * envelope moved to another workspace or purpose fails to authenticate.
 */
export const FORMAT_VERSION = 0x01;
export const HEADER_BYTES = 6;
export const PREFIX_BYTES = HEADER_BYTES + NONCE_BYTES;
export const OVERHEAD_BYTES = PREFIX_BYTES + TAG_BYTES;
export const TEXT_PREFIX = "tc1.";
export const MAX_KEY_VERSION = 0xffffffff;

/** The parsed envelope; `nonce` and `sealed` are views into the input. */
export interface Envelope {
  readonly suite: SuiteId;
  readonly keyVersion: number;
  readonly header: Uint8Array;
  readonly nonce: Uint8Array;
  /** ciphertext ‖ tag */
  readonly sealed: Uint8Array;
}

export type EnvelopeError = MalformedCiphertextError | UnsupportedVersionError | UnsupportedSuiteError;

/** Reads the header; never throws and never looks past the bytes given. */
export function parseEnvelope(bytes: Uint8Array): Result<Envelope, EnvelopeError> {
  if (bytes.length < OVERHEAD_BYTES) {
    return err(malformed(`envelope is ${bytes.length} bytes; the minimum is ${OVERHEAD_BYTES}`));
  }
  const version = bytes[0] ?? 0;
  if (version !== FORMAT_VERSION) {
    return err(tenancyError("UnsupportedVersion", `unknown envelope format version 0x${version.toString(16).padStart(2, "0")}`));
  }
  const suite = bytes[1] ?? 0;
  if (suite !== SUITE_XCHACHA20_POLY1305 && suite !== SUITE_XAES_256_GCM) {
    return err(tenancyError("UnsupportedSuite", `unknown cipher suite 0x${suite.toString(16).padStart(2, "0")}`));
  }
  const keyVersion = readU32(bytes, 2);
  if (keyVersion === 0) return err(malformed("key version 0 is never issued"));
  return ok({
    suite,
    keyVersion,
    header: bytes.subarray(0, HEADER_BYTES),
    nonce: bytes.subarray(HEADER_BYTES, PREFIX_BYTES),
    sealed: bytes.subarray(PREFIX_BYTES),
  });
}

/** Writes version, suite and key version into the first 6 bytes of `out`. */
export function writeHeader(out: Uint8Array, suite: SuiteId, keyVersion: number): void {
  out[0] = FORMAT_VERSION;
  out[1] = suite;
  out[2] = (keyVersion >>> 24) & 0xff;
  out[3] = (keyVersion >>> 16) & 0xff;
  out[4] = (keyVersion >>> 8) & 0xff;
  out[5] = keyVersion & 0xff;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (((bytes[offset] ?? 0) << 24) | ((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0)) >>> 0;
}

/**
 * The context half of the associated data: `len(workspaceId) ‖ workspaceId ‖
 * len(purpose) ‖ purpose` (one length byte each, ASCII). The full AAD is
 * `header(6 B) ‖ context`, so the version, suite and key version are
 * authenticated too, and nothing here is stored in the envelope.
 */
export function contextBytes(workspaceId: string, purpose: string): Uint8Array {
  const out = new Uint8Array(2 + workspaceId.length + purpose.length);
  out[0] = workspaceId.length;
  for (let i = 0; i < workspaceId.length; i++) out[1 + i] = workspaceId.charCodeAt(i);
  const at = 1 + workspaceId.length;
  out[at] = purpose.length;
  for (let i = 0; i < purpose.length; i++) out[at + 1 + i] = purpose.charCodeAt(i);
  return out;
}

/** A reusable AAD buffer: 6 header bytes then the context; the header part is rewritten per call. */
export function aadBuffer(context: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + context.length);
  out.set(context, HEADER_BYTES);
  return out;
}

/** Purposes are short printable identifiers like `secret:sendgrid` or `user_property.email`. */
export const PURPOSE_PATTERN = /^[A-Za-z0-9._:/@-]{1,128}$/;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** `tc1.` + base64url. */
export function toText(bytes: Uint8Array): string {
  return TEXT_PREFIX + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/**
 * Parses the text form strictly: the prefix, the base64url alphabet and a
 * canonical encoding (so two different strings never decode to one envelope).
 */
export function fromText(text: string): Result<Uint8Array, MalformedCiphertextError> {
  if (!text.startsWith(TEXT_PREFIX)) return err(malformed(`text envelope must start with ${JSON.stringify(TEXT_PREFIX)}`));
  const body = text.slice(TEXT_PREFIX.length);
  if (body.length % 4 === 1 || !BASE64URL.test(body)) return err(malformed("text envelope is not base64url"));
  const bytes = Buffer.from(body, "base64url");
  if (bytes.toString("base64url") !== body) return err(malformed("text envelope is not canonical base64url"));
  return ok(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
