import type { RandomSource } from "../core/random.js";

/**
 * Draws random bytes in 4 KiB blocks: salts are 16 bytes per personal field,
 * and one CSPRNG call per event cost more than everything else in preparing it.
 */
export function pooledRandom(source: RandomSource): RandomSource {
  let block: Uint8Array = new Uint8Array(0);
  let used = 0;
  return {
    bytes(length) {
      if (length > 1_024) return source.bytes(length);
      if (used + length > block.length) {
        block = source.bytes(4_096);
        used = 0;
      }
      // A view, not a copy: a block is never written again once drawn from (the next one is new).
      const out = block.subarray(used, used + length);
      used += length;
      return out;
    },
  };
}

