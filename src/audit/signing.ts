import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { InvalidSigningKeyError } from "./errors.js";

/** Signs checkpoints and prune records. The private key never reaches the database. */
export interface AuditSigner {
  /** First 16 hex digits of SHA-256(public key): names the key in every signature. */
  readonly keyId: string;
  /** Raw 32-byte Ed25519 public key, base64. */
  readonly publicKey: string;
  sign(message: string): string;
}

/** Public keys by key id, for verification (rotated keys stay listed). */
export type AuditPublicKeys = Readonly<Record<string, string>>;

// DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
// DER prefix of an SPKI Ed25519 public key; the 32-byte key follows.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * Parses `TENANCY_AUDIT_SIGNING_KEY`: a base64 (or base64url) 32-byte Ed25519
 * seed. Returns a typed Err naming the problem, never the key material.
 *
 * @example
 * const signer = parseSigningKey(process.env.TENANCY_AUDIT_SIGNING_KEY);
 */
export function parseSigningKey(raw: unknown): Result<AuditSigner, InvalidSigningKeyError> {
  if (typeof raw !== "string" || raw.trim() === "") {
    return err(tenancyError("InvalidSigningKey", "TENANCY_AUDIT_SIGNING_KEY must be a base64 32-byte Ed25519 seed"));
  }
  const text = raw.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    return err(tenancyError("InvalidSigningKey", "TENANCY_AUDIT_SIGNING_KEY is not base64"));
  }
  const seed = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (seed.length !== 32) {
    return err(
      tenancyError("InvalidSigningKey", `TENANCY_AUDIT_SIGNING_KEY must decode to 32 bytes, got ${seed.length}`),
    );
  }
  return ok(signerFromSeed(seed));
}

/** A signer from a raw 32-byte seed (e.g. `randomBytes(32)` in tests and the demo). */
export function signerFromSeed(seed: Uint8Array): AuditSigner {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const raw = spki.subarray(spki.length - 32);
  const publicKey = raw.toString("base64");
  return {
    keyId: keyIdOf(raw),
    publicKey,
    sign: (message) => sign(null, Buffer.from(message), privateKey).toString("base64"),
  };
}

export function keyIdOf(rawPublicKey: Uint8Array): string {
  return createHash("sha256").update(rawPublicKey).digest("hex").slice(0, 16);
}

const publicKeyCache = new Map<string, KeyObject>();

/** Checks an Ed25519 signature (base64) with a raw base64 public key; false for any malformed input. */
export function verifySignature(message: string, signature: string, publicKey: string): boolean {
  try {
    let key = publicKeyCache.get(publicKey);
    if (key === undefined) {
      const raw = Buffer.from(publicKey, "base64");
      if (raw.length !== 32) return false;
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
      publicKeyCache.set(publicKey, key);
    }
    const sig = Buffer.from(signature, "base64");
    return sig.length === 64 && verify(null, Buffer.from(message), key, sig);
  } catch {
    return false;
  }
}
