import { randomBytes as nodeRandomBytes } from "node:crypto";

/** A source of random bytes; injected where nonces, keys or salts are made. */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

export const systemRandom: RandomSource = {
  bytes: (length) => new Uint8Array(nodeRandomBytes(length)),
};

/**
 * A deterministic source (xorshift32 seeded), for tests that need the same
 * nonces on every run. Never use it for real keys.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0 || 0x9e3779b9;
  return {
    bytes(length) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) {
        state ^= state << 13;
        state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        out[i] = state & 0xff;
      }
      return out;
    },
  };
}
