import { createCipheriv, createDecipheriv } from "node:crypto";
import { chacha20poly1305 } from "@noble/ciphers/chacha";
import { gcm } from "@noble/ciphers/aes";

/**
 * The four raw AEADs under TenantCipher's suites: ChaCha20-Poly1305 and
 * AES-256-GCM, each native (node:crypto / OpenSSL) and pure JS
 * (@noble/ciphers). All take a 32-byte key, a 12-byte nonce and a 16-byte tag
 * and nothing else; `seal` writes ciphertext‖tag into `out` at `offset`, and
 * `open` returns the plaintext or undefined when the tag does not verify (the
 * unauthenticated bytes node releases from `update()` are wiped first).
 * Wycheproof runs through exactly these functions.
 */
export interface RawAead {
  readonly name: string;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}

export const TAG_BYTES = 16;

type NodeAlgorithm = "chacha20-poly1305" | "aes-256-gcm";

function nodeAead(algorithm: NodeAlgorithm): RawAead {
  return {
    name: `node:${algorithm}`,
    seal(key, nonce, aad, plaintext, out, offset) {
      // authTagLength pinned: node otherwise accepts shorter tags on decrypt (DEP0182).
      const cipher =
        algorithm === "aes-256-gcm"
          ? createCipheriv(algorithm, key, nonce, { authTagLength: TAG_BYTES })
          : createCipheriv(algorithm, key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const body = cipher.update(plaintext);
      cipher.final();
      out.set(body, offset);
      out.set(cipher.getAuthTag(), offset + plaintext.length);
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG_BYTES) return undefined;
      const split = sealed.length - TAG_BYTES;
      let plaintext: Buffer | undefined;
      try {
        // Inside the try: a wrong key or nonce length throws in createDecipheriv; open never throws.
        const decipher =
          algorithm === "aes-256-gcm"
            ? createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_BYTES })
            : createDecipheriv(algorithm, key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAuthTag(sealed.subarray(split));
        decipher.setAAD(aad);
        plaintext = decipher.update(sealed.subarray(0, split));
        decipher.final();
        return plaintext;
      } catch {
        // Never let unauthenticated plaintext escape, not even in memory we drop.
        plaintext?.fill(0);
        return undefined;
      }
    },
  };
}

function nobleAead(name: string, make: (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) => {
  encrypt(data: Uint8Array): Uint8Array;
  decrypt(data: Uint8Array): Uint8Array;
}): RawAead {
  return {
    name,
    seal(key, nonce, aad, plaintext, out, offset) {
      out.set(make(key, nonce, aad).encrypt(plaintext), offset);
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG_BYTES) return undefined;
      try {
        return make(key, nonce, aad).decrypt(sealed);
      } catch {
        return undefined;
      }
    },
  };
}

export const nodeChaCha20Poly1305: RawAead = nodeAead("chacha20-poly1305");
export const nodeAes256Gcm: RawAead = nodeAead("aes-256-gcm");
export const nobleChaCha20Poly1305: RawAead = nobleAead("noble:chacha20poly1305", (k, n, a) => chacha20poly1305(k, n, a));
export const nobleAes256Gcm: RawAead = nobleAead("noble:aes-256-gcm", (k, n, a) => gcm(k, n, a));
