import { hash } from "node:crypto";
import { canonicalJson, type JsonValue } from "./canonical.js";
import { hmacSha256Hex } from "./hmac.js";

/*
 * Salted commitments to personal values: the hashed body holds only these, so
 * erasing a value and its salt keeps the chain verifiable and reveals nothing.
 *
 * The body's `v` says which form its commitments take; verify accepts both.
 *  - v1: HMAC-SHA256(key = salt, "tenancykit/audit/pii/v1\n" ‖ path ‖ "\n" ‖ canonical(value)).
 *  - v2 (what prepareEvent writes): SHA-256("tenancykit/audit/pii/v2\n" ‖ salt ‖ path ‖ "\n" ‖ canonical(value)).
 *
 * v2 is one SHA-256 call per field instead of HMAC's two, on a path where the
 * per-call cost of `crypto.hash` dominates (three personal fields per typical
 * event: six calls became three). It keeps both properties a commitment needs:
 *  - hiding: the salt is 16 fresh random bytes per field, kept secret beside
 *    the value and erased with it; with SHA-256 modelled as a random oracle,
 *    H(tag ‖ salt ‖ …) says nothing about the value without the salt, even for
 *    guessable values (an IP address): guessing means guessing 128 bits.
 *  - binding: the domain tag and the salt have fixed lengths and verify
 *    recomputes with the path under which the commitment is stored, so
 *    (salt, value) ↦ the hashed bytes is injective for that path; opening a
 *    commitment to another value or salt needs a SHA-256 collision.
 * Length extension does not matter here: nothing is authenticated with it, and
 * whoever holds the salt can already compute any commitment.
 * Each field keeps its own salt and commitment, as in v1.
 */
const V1_DOMAIN = "tenancykit/audit/pii/v1\n";
const V2_DOMAIN = Buffer.from("tenancykit/audit/pii/v2\n");
const SALT_AT = V2_DOMAIN.length;
const PATH_AT = SALT_AT + 16;

/** The body version prepareEvent writes (its commitments are v2). */
export const BODY_VERSION = 2;

/** Reused for every v2 commitment (grown when a value needs more: 3 UTF-8 bytes per UTF-16 unit at most). */
let scratch = Buffer.allocUnsafe(1_024);

/** Hex v2 commitment to a value already in canonical JSON, under a 16-byte salt. */
export function commitCanonical(path: string, canonicalValue: string, salt: Uint8Array): string {
  const need = PATH_AT + 3 * (path.length + 1 + canonicalValue.length);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, 2 * scratch.length));
  const buf = scratch;
  V2_DOMAIN.copy(buf, 0);
  buf.set(salt, SALT_AT);
  let at = PATH_AT + buf.write(path, PATH_AT, "utf8");
  buf[at++] = 0x0a;
  at += buf.write(canonicalValue, at, "utf8");
  return hash("sha256", buf.subarray(0, at), "hex");
}

/**
 * The hex commitment of a body version to `value` under `saltHex`, or
 * undefined for a version with no known commitment form (or a salt that is
 * not 16 bytes of hex in v2), which verify reports as a mismatch.
 */
export function commitment(version: unknown, path: string, value: JsonValue, saltHex: string): string | undefined {
  const canonical = canonicalJson(value);
  const text = canonical.isOk() ? canonical.value : "";
  if (version === 1) return hmacSha256Hex(Buffer.from(saltHex, "hex"), `${V1_DOMAIN}${path}\n${text}`);
  if (version === 2) {
    if (!/^[0-9a-f]{32}$/.test(saltHex)) return undefined;
    return commitCanonical(path, text, Buffer.from(saltHex, "hex"));
  }
  return undefined;
}
