import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hmacSha256Hex } from "../../../src/audit/hmac.js";

describe("hmacSha256Hex", () => {
  it("equals createHmac for keys of 0 to 100 bytes and messages from empty to 5,000 characters (ASCII, non-ASCII, astral)", () => {
    const pieces = ["", "a", "é", "😀", "tenancykit/audit/pii/v1\ncontext.ip\n\"203.0.113.10\"", "x".repeat(63), "y".repeat(64), "z".repeat(200)];
    for (let keyLength = 0; keyLength <= 100; keyLength += 3) {
      const key = randomBytes(keyLength);
      for (let i = 0; i < pieces.length; i++) {
        const message = pieces[i] + (pieces[(i + keyLength) % pieces.length] as string).repeat(1 + (keyLength % 25));
        expect(hmacSha256Hex(key, message)).toBe(createHmac("sha256", key).update(message).digest("hex"));
      }
    }
    const long = "ü".repeat(5_000);
    const key = randomBytes(16);
    expect(hmacSha256Hex(key, long)).toBe(createHmac("sha256", key).update(long).digest("hex"));
    // RFC 4231 test case 2.
    expect(hmacSha256Hex(Buffer.from("Jefe"), "what do ya want for nothing?")).toBe(
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    );
  });
});
