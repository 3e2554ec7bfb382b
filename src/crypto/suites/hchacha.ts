import { hchacha } from "@noble/ciphers/chacha";

/**
 * HChaCha20 (the XChaCha20 nonce-extension step): derives a one-message
 * ChaCha20 subkey from the data key and the first 16 nonce bytes. It is one
 * ChaCha block (~1 µs in JS), so both the node and the noble path use
 * noble's implementation and the native AEAD does the bulk.
 */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]); // "expand 32-byte k"
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Key words for HChaCha20, read little-endian whatever the platform. */
export function keyWords(key: Uint8Array): Uint32Array {
  const words = new Uint32Array(8);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  for (let i = 0; i < 8; i++) words[i] = view.getUint32(i * 4, true);
  return words;
}

const nonceWords = new Uint32Array(4);
const outWords = new Uint32Array(8);
const outBytes = new Uint8Array(outWords.buffer);

/**
 * Writes the HChaCha20 subkey of (key, nonce[0..16]) into a shared scratch
 * buffer and returns it. The caller must copy or consume it before the next
 * call (node's createCipheriv copies the key, so passing it straight is safe).
 */
export function hchachaSubkey(key32: Uint32Array, nonce: Uint8Array): Uint8Array {
  // Little-endian reads by hand: no DataView allocation on the per-message path.
  for (let i = 0, j = 0; i < 4; i++, j += 4) {
    nonceWords[i] = ((nonce[j] ?? 0) | ((nonce[j + 1] ?? 0) << 8) | ((nonce[j + 2] ?? 0) << 16) | ((nonce[j + 3] ?? 0) << 24)) >>> 0;
  }
  hchacha(SIGMA, key32, nonceWords, outWords);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) {
      const w = outWords[i] ?? 0;
      outWords[i] = ((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24);
    }
  }
  return outBytes;
}
