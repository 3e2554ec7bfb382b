import { tenancyError, type TenancyErrorBase, type CoreError } from "../core/errors.js";

/** Plaintext is larger than the configured `maxPlaintextBytes`, or empty when empty is not allowed. */
export type PlaintextSizeError = TenancyErrorBase<"PlaintextSize">;
/** The envelope is not a TenantCipher envelope: too short, bad text form, wrong type. */
export type MalformedCiphertextError = TenancyErrorBase<"MalformedCiphertext">;
/** The envelope's format version byte is one this build does not know. */
export type UnsupportedVersionError = TenancyErrorBase<"UnsupportedVersion">;
/** The envelope names a cipher suite this build does not know. */
export type UnsupportedSuiteError = TenancyErrorBase<"UnsupportedSuite">;
/** The key version named in the envelope does not exist for this workspace. */
export type KeyNotFoundError = TenancyErrorBase<"KeyNotFound">;
/** The workspace's keys were crypto-shredded; nothing encrypted under them can be read again. */
export interface KeyDestroyedError extends TenancyErrorBase<"KeyDestroyed"> {
  readonly destroyedAt?: number;
  readonly destroyedBy?: string;
}
/** The tag did not verify: wrong workspace, wrong purpose, tampered bytes or a wrong key. */
export type AuthFailedError = TenancyErrorBase<"AuthFailed">;
/** The root key (KEK) could not wrap or unwrap a data key: unknown root key id, KMS down, bad wrapped key. */
export type KeyUnavailableError = TenancyErrorBase<"KeyUnavailable">;
/** TENANCY_ROOT_KEYS (or the keys given in options) are malformed. */
export type InvalidRootKeysError = TenancyErrorBase<"InvalidRootKeys">;
/** A legacy (Dittofeed `secrets.ts`) value could not be read. */
export type LegacyFormatError = TenancyErrorBase<"LegacyFormat">;

/** Every error TenantCipher returns. Discriminate on `type`. */
export type CryptoError =
  | CoreError
  | PlaintextSizeError
  | MalformedCiphertextError
  | UnsupportedVersionError
  | UnsupportedSuiteError
  | KeyNotFoundError
  | KeyDestroyedError
  | AuthFailedError
  | KeyUnavailableError
  | InvalidRootKeysError
  | LegacyFormatError;

export const malformed = (message: string, workspaceId?: string): MalformedCiphertextError =>
  tenancyError("MalformedCiphertext", message, { workspaceId });

export const authFailed = (workspaceId?: string): AuthFailedError =>
  tenancyError(
    "AuthFailed",
    "ciphertext did not authenticate (wrong workspace or purpose, tampered, or wrong key)",
    { workspaceId },
  );

export function keyDestroyed(workspaceId: string, destroyedAt?: number, destroyedBy?: string): KeyDestroyedError {
  const base = tenancyError("KeyDestroyed", `the keys of workspace ${workspaceId} were destroyed`, { workspaceId });
  return {
    ...base,
    ...(destroyedAt === undefined ? {} : { destroyedAt }),
    ...(destroyedBy === undefined ? {} : { destroyedBy }),
  };
}

export const keyUnavailable = (message: string, details: { workspaceId?: string; cause?: unknown; retryable?: boolean } = {}): KeyUnavailableError =>
  tenancyError("KeyUnavailable", message, { retryable: details.retryable ?? false, workspaceId: details.workspaceId, cause: details.cause });
