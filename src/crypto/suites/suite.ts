import { xchacha20poly1305 } from "@noble/ciphers/chacha";
import {
  nobleAes256Gcm,
  nodeAes256Gcm,
  nodeChaCha20Poly1305,
  TAG_BYTES,
  type RawAead,
} from "./aead.js";
import { hchachaSubkey, keyWords } from "./hchacha.js";
import { deriveXaesKey, prepareXaesKey, type XaesKey } from "./xaes-kdf.js";

/** Suite ids as stored in the envelope's second byte. */
export const SUITE_XCHACHA20_POLY1305 = 0x01;
export const SUITE_XAES_256_GCM = 0x02;
export type SuiteId = typeof SUITE_XCHACHA20_POLY1305 | typeof SUITE_XAES_256_GCM;
export type SuiteName = "xchacha20-poly1305" | "xaes-256-gcm";
/** Which code does the bulk work: native node:crypto (default) or pure @noble/ciphers. Same bytes either way. */
export type Implementation = "node" | "noble";

export const NONCE_BYTES = 24;
export { TAG_BYTES };

/**
 * A data key made ready for both suites: the raw key, its HChaCha20 words and
 * its AES-256 key schedule with the XAES subkey. Built once per cache fill, so
 * the per-message work is only the nonce extension and the AEAD itself.
 */
export interface PreparedKey {
  readonly key: Uint8Array;
  readonly words: Uint32Array;
  readonly xaes: XaesKey;
}

export function prepareKey(key: Uint8Array): PreparedKey {
  return { key, words: keyWords(key), xaes: prepareXaesKey(key) };
}

/** One suite on one implementation: seals into `out` at `offset` (ciphertext‖tag), opens or returns undefined. */
export interface SuiteCodec {
  readonly id: SuiteId;
  readonly name: SuiteName;
  readonly implementation: Implementation;
  seal(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void;
  open(key: PreparedKey, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}

// XChaCha20 = ChaCha20 under the HChaCha20 subkey with nonce 0x00000000 ‖ N[16:24].
const chachaNonce = new Uint8Array(12);
function innerChaChaNonce(nonce: Uint8Array): Uint8Array {
  for (let i = 0; i < 8; i++) chachaNonce[4 + i] = nonce[16 + i] ?? 0;
  return chachaNonce;
}

const xchachaNode: SuiteCodec = {
  id: SUITE_XCHACHA20_POLY1305,
  name: "xchacha20-poly1305",
  implementation: "node",
  seal: (key, nonce, aad, plaintext, out, offset) =>
    nodeChaCha20Poly1305.seal(hchachaSubkey(key.words, nonce), innerChaChaNonce(nonce), aad, plaintext, out, offset),
  open: (key, nonce, aad, sealed) =>
    nodeChaCha20Poly1305.open(hchachaSubkey(key.words, nonce), innerChaChaNonce(nonce), aad, sealed),
};

const xchachaNoble: SuiteCodec = {
  id: SUITE_XCHACHA20_POLY1305,
  name: "xchacha20-poly1305",
  implementation: "noble",
  seal(key, nonce, aad, plaintext, out, offset) {
    out.set(xchacha20poly1305(key.key, nonce, aad).encrypt(plaintext), offset);
  },
  open(key, nonce, aad, sealed) {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      return xchacha20poly1305(key.key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};

function xaes(implementation: Implementation, gcm: RawAead): SuiteCodec {
  return {
    id: SUITE_XAES_256_GCM,
    name: "xaes-256-gcm",
    implementation,
    seal: (key, nonce, aad, plaintext, out, offset) =>
      gcm.seal(deriveXaesKey(key.xaes, nonce), nonce.subarray(12, 24), aad, plaintext, out, offset),
    open: (key, nonce, aad, sealed) => gcm.open(deriveXaesKey(key.xaes, nonce), nonce.subarray(12, 24), aad, sealed),
  };
}

const CODECS: Readonly<Record<Implementation, Readonly<Record<SuiteId, SuiteCodec>>>> = {
  node: { [SUITE_XCHACHA20_POLY1305]: xchachaNode, [SUITE_XAES_256_GCM]: xaes("node", nodeAes256Gcm) },
  noble: { [SUITE_XCHACHA20_POLY1305]: xchachaNoble, [SUITE_XAES_256_GCM]: xaes("noble", nobleAes256Gcm) },
};

/** The codec for a suite id (or undefined for an unknown id) on the given implementation. */
export function codecFor(suite: number, implementation: Implementation): SuiteCodec | undefined {
  if (suite !== SUITE_XCHACHA20_POLY1305 && suite !== SUITE_XAES_256_GCM) return undefined;
  return CODECS[implementation][suite];
}

export const SUITE_IDS: Readonly<Record<SuiteName, SuiteId>> = {
  "xchacha20-poly1305": SUITE_XCHACHA20_POLY1305,
  "xaes-256-gcm": SUITE_XAES_256_GCM,
};
