import { unsafe as aesUnsafe } from "@noble/ciphers/aes";

/**
 * XAES-256-GCM key derivation (C2SP): L = AES-256_K(0^128), K1 = L·x in
 * GF(2^128) (the CMAC subkey), and the per-message key
 * Kx = AES_K(M1 ⊕ K1) ‖ AES_K(M2 ⊕ K1) with M1 = 0x00 0x01 'X' 0x00 ‖ N[:12]
 * and M2 = 0x00 0x02 'X' 0x00 ‖ N[:12]. Only two AES blocks per message, so
 * noble's block function (on a cached key schedule) serves both paths.
 */
export interface XaesKey {
  readonly schedule: Uint32Array;
  readonly k1: Uint8Array;
}

export function prepareXaesKey(key: Uint8Array): XaesKey {
  const schedule = aesUnsafe.expandKeyLE(key);
  const l = new Uint8Array(16);
  aesUnsafe.encryptBlock(schedule, l);
  const k1 = new Uint8Array(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const byte = l[i] ?? 0;
    k1[i] = ((byte << 1) | carry) & 0xff;
    carry = byte >>> 7;
  }
  if (((l[0] ?? 0) & 0x80) !== 0) k1[15] = (k1[15] ?? 0) ^ 0x87;
  return { schedule, k1 };
}

/** Derives the 32-byte message key for a 24-byte nonce into a fresh array. */
export function deriveXaesKey(key: XaesKey, nonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  const first = out.subarray(0, 16);
  const second = out.subarray(16, 32);
  first[1] = 0x01;
  first[2] = 0x58;
  second[1] = 0x02;
  second[2] = 0x58;
  for (let i = 0; i < 12; i++) {
    const n = nonce[i] ?? 0;
    first[4 + i] = n;
    second[4 + i] = n;
  }
  for (let i = 0; i < 16; i++) {
    const k = key.k1[i] ?? 0;
    first[i] = (first[i] ?? 0) ^ k;
    second[i] = (second[i] ?? 0) ^ k;
  }
  aesUnsafe.encryptBlock(key.schedule, first);
  aesUnsafe.encryptBlock(key.schedule, second);
  return out;
}
