import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../../core/errors.js";
import type { InvalidRootKeysError } from "../errors.js";

/** One root key (key-encryption key): an id stored beside every data key it wraps, and 32 secret bytes. */
export interface RootKey {
  readonly id: string;
  readonly key: Uint8Array;
}

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Parses `TENANCY_ROOT_KEYS`: comma-separated `id:base64` entries, each a
 * 32-byte key, primary first (e.g. `k2026:…,k2025:…`). Standard or url-safe
 * base64 are accepted. Every problem is listed at once; the key bytes are
 * never echoed in messages.
 */
export function parseRootKeys(raw: string): Result<readonly RootKey[], InvalidRootKeysError> {
  const problems: string[] = [];
  const keys: RootKey[] = [];
  const seen = new Set<string>();
  const entries = raw.split(",").map((e) => e.trim());
  entries.forEach((entry, index) => {
    const where = `entry ${index + 1}`;
    const colon = entry.indexOf(":");
    if (colon < 0) {
      problems.push(`${where} is not id:base64`);
      return;
    }
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    const validId = ID_PATTERN.test(id);
    if (!validId) problems.push(`${where} has an invalid id (1-64 of A-Z a-z 0-9 . _ -)`);
    else if (seen.has(id)) problems.push(`${where} repeats id ${id}`);
    seen.add(id);
    // An invalid "id" may be the key itself (an entry written key:id): it is never echoed.
    const named = validId ? `${where} (${id})` : where;
    const isBase64 = BASE64.test(encoded) && encoded.length % 4 === 0;
    const isBase64Url = BASE64URL.test(encoded);
    if (!isBase64 && !isBase64Url) {
      problems.push(`${named} is not base64`);
      return;
    }
    const key = Buffer.from(encoded, isBase64 ? "base64" : "base64url");
    if (key.length !== 32) {
      problems.push(`${named} decodes to ${key.length} bytes; root keys are 32 bytes`);
      return;
    }
    if (key.every((b) => b === 0)) problems.push(`${named} is all zero bytes`);
    keys.push({ id, key: new Uint8Array(key) });
  });
  if (entries.length === 0 || raw.trim() === "") problems.push("no root keys given");
  if (problems.length > 0) {
    return err(tenancyError("InvalidRootKeys", `TENANCY_ROOT_KEYS: ${problems.join("; ")}`));
  }
  return ok(keys);
}
