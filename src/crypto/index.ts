/**
 * tenancykit/crypto: TenantCipher, per-workspace envelope encryption with
 * versioned data keys, rotation, crypto-shredding and blind indexes. The
 * Postgres key store is at `tenancykit/crypto/postgres`.
 */
export { TenantCipher, type FieldRef, type TenantCipherOptions } from "./tenant-cipher.js";
export { tenantCipherFromEnv } from "./from-env.js";
export { FieldCore } from "./field-cipher.js";
export type {
  AuthFailedError,
  CryptoError,
  InvalidRootKeysError,
  KeyDestroyedError,
  KeyNotFoundError,
  KeyUnavailableError,
  LegacyFormatError,
  MalformedCiphertextError,
  PlaintextSizeError,
  UnsupportedSuiteError,
  UnsupportedVersionError,
} from "./errors.js";
export {
  FORMAT_VERSION,
  HEADER_BYTES,
  OVERHEAD_BYTES,
  TEXT_PREFIX,
  parseEnvelope,
  fromText,
  toText,
  contextBytes,
  type Envelope,
} from "./format.js";
export {
  SUITE_XAES_256_GCM,
  SUITE_XCHACHA20_POLY1305,
  NONCE_BYTES,
  TAG_BYTES,
  codecFor,
  prepareKey,
  type Implementation,
  type PreparedKey,
  type SuiteCodec,
  type SuiteId,
  type SuiteName,
} from "./suites/suite.js";
export { nobleAes256Gcm, nobleChaCha20Poly1305, nodeAes256Gcm, nodeChaCha20Poly1305, type RawAead } from "./suites/aead.js";
export { parseRootKeys, type RootKey } from "./keys/root-keys.js";
export { localKeyWrapper, wrapAad, type KeyWrapper, type WrapContext, type WrappedKey } from "./keys/key-wrapper.js";
export type { AddVersionOutcome, DataKeyRecord, KeyState, KeyStore, KeyStoreError, KeyTombstone, WorkspaceKeys } from "./keys/key-store.js";
export { memoryKeyStore } from "./keys/memory-store.js";
export { Keyring, type ActiveKey, type KeyCacheOptions } from "./keys/keyring.js";
export { BlindIndexer, blindIndexKey, hkdfSha256, hmacSha256Truncated, type BlindIndexInput } from "./blind-index.js";
export { asLegacySecret, decryptLegacySecret, parseLegacySecretKey, type LegacySecret } from "./legacy.js";
export { reencryptRows, type ReencryptOptions, type ReencryptRow, type ReencryptStats } from "./reencrypt.js";
export { rewrapAll, type RewrapStats } from "./rewrap.js";
export { keyVersionsInUse, type InventoryRow, type KeyVersionInventory } from "./inventory.js";
export { generateRootKeyEntry } from "./root-key-gen.js";
