import { createHmac, hkdfSync } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { tenancyError, type InvalidInputError } from "../core/errors.js";
import type { CryptoError } from "./errors.js";
import { describe } from "./field-cipher.js";
import { MAX_KEY_VERSION } from "./format.js";
import type { PreparedKey } from "./suites/suite.js";
import type { TenantCipher, FieldRef } from "./tenant-cipher.js";

/** HKDF-SHA256 (RFC 5869) on node:crypto; lengths over 255·32 bytes are an Err, not a throw. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Result<Uint8Array, InvalidInputError> {
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * 32) {
    return err(tenancyError("InvalidInput", `HKDF-SHA256 output length must be 1..8160 bytes, got ${length}`));
  }
  try {
    return ok(new Uint8Array(hkdfSync("sha256", ikm, salt, info, length)));
  } catch (thrown) {
    return err(tenancyError("InvalidInput", "HKDF-SHA256 rejected its input", { cause: thrown }));
  }
}

/** HMAC-SHA-256 truncated to its first `bytes` bytes (the blind index's MAC). */
export function hmacSha256Truncated(key: Uint8Array, message: Uint8Array, bytes: number): Uint8Array {
  const mac = createHmac("sha256", key).update(message).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, Math.min(bytes, 32));
}

const SALT = new TextEncoder().encode("tenancykit/blind-index/v1");

/** The per-workspace, per-purpose blind-index subkey: HKDF(data key, salt, workspaceId ‖ 0x00 ‖ purpose). */
export function blindIndexKey(dataKey: Uint8Array, workspaceId: string, purpose: string): Uint8Array {
  const info = Buffer.from(`${workspaceId}\u0000${purpose}`, "utf8");
  const derived = hkdfSha256(dataKey, SALT, info, 32);
  // Length 32 is always valid, so this branch is unreachable; keep the types honest.
  if (derived.isErr()) throw new Error(derived.error.message);
  return derived.value;
}

export interface BlindIndexInput extends FieldRef {
  readonly value: string | Uint8Array;
  /** Index length in bits: a multiple of 8 from 32 to 256. Shorter leaks less (more collisions to filter). @default 128 */
  readonly bits?: number;
  /** The data key version the index key derives from; keep it fixed per column. @default 1 */
  readonly keyVersion?: number;
}

/**
 * Blind indexes for equality lookups on encrypted columns: HMAC-SHA-256 of the
 * value under a subkey derived (HKDF) from the workspace's data key and the
 * purpose, truncated, as base64url. The same value in two workspaces or two
 * purposes gives unrelated indexes; a shredded workspace gives KeyDestroyed.
 * An index reveals equality (and so frequency) within one column.
 */
export class BlindIndexer {
  readonly #cipher: TenantCipher;
  readonly #subkeys = new WeakMap<PreparedKey, Map<string, Uint8Array>>();

  constructor(cipher: TenantCipher) {
    this.#cipher = cipher;
  }

  async index(input: BlindIndexInput): Promise<Result<string, CryptoError>> {
    const field = this.#cipher.field(input);
    if (field.isErr()) return err(field.error);
    const { workspaceId, purpose } = field.value;
    const bits = input.bits ?? 128;
    if (!Number.isInteger(bits) || bits % 8 !== 0 || bits < 32 || bits > 256) {
      return err(tenancyError("InvalidInput", `bits must be a multiple of 8 from 32 to 256, got ${typeof bits === "number" ? String(bits) : describe(bits)}`, { workspaceId }));
    }
    const version = input.keyVersion ?? 1;
    if (!Number.isInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
      return err(tenancyError("InvalidInput", `keyVersion must be a positive integer`, { workspaceId }));
    }
    let value: Uint8Array;
    if (typeof input.value === "string") value = Buffer.from(input.value, "utf8");
    else if (input.value instanceof Uint8Array) value = input.value;
    else return err(tenancyError("InvalidInput", `value must be a string or Uint8Array, got ${describe(input.value)}`, { workspaceId }));
    // Version 1 exists as soon as the workspace has encrypted anything; create it otherwise.
    if (version === 1) {
      const primary = await this.#cipher.keyring.primary(workspaceId);
      if (primary.isErr()) return err(primary.error);
    }
    const key = await this.#cipher.keyring.version(workspaceId, version);
    if (key.isErr()) return err(key.error);
    let byPurpose = this.#subkeys.get(key.value);
    if (byPurpose === undefined) {
      byPurpose = new Map();
      this.#subkeys.set(key.value, byPurpose);
    }
    let subkey = byPurpose.get(purpose);
    if (subkey === undefined) {
      subkey = blindIndexKey(key.value.key, workspaceId, purpose);
      byPurpose.set(purpose, subkey);
    }
    return ok(Buffer.from(hmacSha256Truncated(subkey, value, bits / 8)).toString("base64url"));
  }
}
