import { createDecipheriv } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { LegacyFormatError, InvalidRootKeysError } from "./errors.js";

/** Dittofeed's `secrets.ts` ciphertext: AES-256-GCM, 16-byte IV, 16-byte tag, no AAD, hex fields. */
export interface LegacySecret {
  readonly iv: string;
  readonly encryptedData: string;
  readonly authTag: string;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Parses Dittofeed's `SECRET_KEY` (base64 of 32 bytes) for legacy decryption. */
export function parseLegacySecretKey(secretKey: string): Result<Uint8Array, InvalidRootKeysError> {
  const key = typeof secretKey === "string" ? Buffer.from(secretKey, "base64") : Buffer.alloc(0);
  if (key.length !== 32) return err(tenancyError("InvalidRootKeys", `SECRET_KEY must be base64 of 32 bytes, got ${key.length} bytes`));
  return ok(new Uint8Array(key));
}

/** Recognises a legacy value: the object itself or its JSON text. Undefined when it is not one. */
export function asLegacySecret(value: unknown): LegacySecret | undefined {
  let candidate = value;
  if (typeof value === "string") {
    if (!value.startsWith("{") || !value.includes("authTag")) return undefined;
    try {
      candidate = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  if (typeof candidate !== "object" || candidate === null) return undefined;
  const { iv, encryptedData, authTag } = candidate as Record<string, unknown>;
  if (typeof iv !== "string" || typeof encryptedData !== "string" || typeof authTag !== "string") return undefined;
  return { iv, encryptedData, authTag };
}

/**
 * Decrypts a value written by Dittofeed's `secrets.ts` `encrypt()`, so it can
 * be re-encrypted in the new format. Unlike the original (which returns null),
 * every failure is a typed LegacyFormat error and no plaintext escapes.
 */
export function decryptLegacySecret(key: Uint8Array, secret: LegacySecret): Result<string, LegacyFormatError> {
  const fail = (why: string) => err(tenancyError("LegacyFormat", `legacy secret: ${why}`));
  if (!HEX.test(secret.iv) || !HEX.test(secret.encryptedData) || !HEX.test(secret.authTag)) return fail("fields are not hex");
  const iv = Buffer.from(secret.iv, "hex");
  const tag = Buffer.from(secret.authTag, "hex");
  if (iv.length !== 16) return fail(`IV is ${iv.length} bytes, expected 16`);
  if (tag.length !== 16) return fail(`tag is ${tag.length} bytes, expected 16`);
  if (!(key instanceof Uint8Array) || key.length !== 32) return fail("the legacy key must be 32 bytes (Dittofeed's SECRET_KEY, decoded)");
  const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(Buffer.from(secret.encryptedData, "hex"));
  try {
    decipher.final();
  } catch {
    plaintext.fill(0);
    return fail("authentication failed (wrong SECRET_KEY or tampered)");
  }
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    return ok(text.decode(plaintext));
  } catch {
    return fail("plaintext is not UTF-8");
  }
}
