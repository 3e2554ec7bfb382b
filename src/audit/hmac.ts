import { createHmac, hash } from "node:crypto";

/*
 * HMAC-SHA256 (RFC 2104) from two one-shot `crypto.hash` calls. Every audit
 * event commits to each personal field with its own random salt as the key,
 * so the key changes on every call, and `createHmac` spends most of its time
 * setting the key up (its constructor alone was a third of preparing an
 * event): the one-shot form costs ~1.8 µs per field instead of ~2.7 µs.
 * Same bytes as `createHmac("sha256", key).update(message).digest("hex")`
 * (tested); keys longer than a block (never a salt) go to `createHmac`.
 */
const BLOCK = 64;
let inner = Buffer.allocUnsafe(1_024);
const outer = Buffer.allocUnsafe(BLOCK + 32);

/** Hex HMAC-SHA256 of the UTF-8 `message` under `key`. */
export function hmacSha256Hex(key: Uint8Array, message: string): string {
  if (key.length > BLOCK) return createHmac("sha256", key).update(message).digest("hex");
  const need = BLOCK + 3 * message.length;
  if (inner.length < need) inner = Buffer.allocUnsafe(Math.max(need, 2 * inner.length));
  for (let i = 0; i < BLOCK; i++) {
    const k = i < key.length ? (key[i] as number) : 0;
    inner[i] = k ^ 0x36;
    outer[i] = k ^ 0x5c;
  }
  const length = inner.write(message, BLOCK, "utf8");
  // "binary" (latin1) out and in: cheaper than a "buffer" digest in Node 20 (see entryHash).
  outer.write(hash("sha256", inner.subarray(0, BLOCK + length), "binary"), BLOCK, "latin1");
  return hash("sha256", outer, "hex");
}
