import { shake128 } from "@noble/hashes/sha3";
import { describe, expect, it } from "vitest";
import { codecFor, prepareKey } from "../../../src/crypto/index.js";
import { deriveXaesKey, prepareXaesKey } from "../../../src/crypto/suites/xaes-kdf.js";
import { hex, readVectors, toHex } from "./vectors.js";

interface XaesFile {
  vectors: {
    key: string;
    nonce_ascii: string;
    L: string;
    K1: string;
    derived_key: string;
    plaintext_ascii: string;
    aad_ascii: string;
    ciphertext: string;
  }[];
  accumulated: { iterations: number; shake128_hash: string }[];
}

const ascii = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

describe("XAES-256-GCM (C2SP vectors) through the suite codec", () => {
  const file = readVectors<XaesFile>("xaes-256-gcm.json");

  it("has the two known-answer vectors and checks the key derivation steps", () => {
    expect(file.vectors).toHaveLength(2);
    for (const v of file.vectors) {
      const prepared = prepareXaesKey(hex(v.key));
      expect(toHex(prepared.k1)).toBe(v.K1);
      expect(toHex(deriveXaesKey(prepared, ascii(v.nonce_ascii)))).toBe(v.derived_key);
    }
  });

  it.each(["node", "noble"] as const)("seals and opens the known-answer vectors on the %s path", (implementation) => {
    const codec = codecFor(0x02, implementation);
    if (!codec) throw new Error("missing codec");
    for (const v of file.vectors) {
      const key = prepareKey(hex(v.key));
      const nonce = ascii(v.nonce_ascii);
      const plaintext = ascii(v.plaintext_ascii);
      const out = new Uint8Array(plaintext.length + 16);
      codec.seal(key, nonce, ascii(v.aad_ascii), plaintext, out, 0);
      expect(toHex(out)).toBe(v.ciphertext);
      const opened = codec.open(key, nonce, ascii(v.aad_ascii), hex(v.ciphertext));
      expect(opened && Buffer.from(opened).toString("latin1")).toBe(v.plaintext_ascii);
      const tampered = hex(v.ciphertext);
      tampered[0] = (tampered[0] ?? 0) ^ 1;
      expect(codec.open(key, nonce, ascii(v.aad_ascii), tampered)).toBeUndefined();
    }
  });

  it.each(["node", "noble"] as const)("matches the 10,000-iteration accumulated SHAKE-128 hash on the %s path", (implementation) => {
    const codec = codecFor(0x02, implementation);
    if (!codec) throw new Error("missing codec");
    const expected = file.accumulated.find((a) => a.iterations === 10_000);
    if (!expected) throw new Error("no 10k accumulated vector");
    const rng = shake128.create({});
    const read = (n: number) => rng.xof(n);
    const acc = shake128.create({});
    for (let i = 0; i < expected.iterations; i++) {
      const key = prepareKey(read(32));
      const nonce = read(24);
      const plaintext = read(read(1)[0] ?? 0);
      const aad = read(read(1)[0] ?? 0);
      const out = new Uint8Array(plaintext.length + 16);
      codec.seal(key, nonce, aad, plaintext, out, 0);
      acc.update(out);
      const opened = codec.open(key, nonce, aad, out);
      if (!opened || toHex(opened) !== toHex(plaintext)) throw new Error(`round trip failed at iteration ${i}`);
    }
    expect(toHex(acc.xof(32))).toBe(expected.shake128_hash);
  });
});
