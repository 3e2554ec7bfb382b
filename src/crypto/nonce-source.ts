import { randomFillSync } from "node:crypto";
import type { RandomSource } from "../core/random.js";
import { NONCE_BYTES } from "./suites/suite.js";

/**
 * Random 24-byte nonces. The system source draws from the OS CSPRNG in 4 KiB
 * batches (one syscall per 170 nonces instead of one per message) and never
 * hands out the same pool bytes twice. An injected `RandomSource` (tests) is
 * called per nonce.
 */
export interface NonceSource {
  /** Writes a fresh nonce into `out` at `offset`. */
  fill(out: Uint8Array, offset: number): void;
}

const POOL_BYTES = 4096;

export function systemNonces(): NonceSource {
  const pool = new Uint8Array(POOL_BYTES);
  let used = POOL_BYTES;
  return {
    fill(out, offset) {
      if (used + NONCE_BYTES > POOL_BYTES) {
        randomFillSync(pool);
        used = 0;
      }
      // Copy and wipe byte by byte: no view allocated per message, and a handed-out nonce never stays in the pool.
      for (let i = 0; i < NONCE_BYTES; i++) {
        out[offset + i] = pool[used + i] ?? 0;
        pool[used + i] = 0;
      }
      used += NONCE_BYTES;
    },
  };
}

export function injectedNonces(random: RandomSource): NonceSource {
  return {
    fill(out, offset) {
      const bytes = random.bytes(NONCE_BYTES);
      if (bytes.length !== NONCE_BYTES) throw new TypeError(`RandomSource returned ${bytes.length} bytes, not ${NONCE_BYTES}`);
      out.set(bytes, offset);
    },
  };
}
