import { describe, expect, it } from "vitest";
import {
  codecFor,
  hkdfSha256,
  hmacSha256Truncated,
  nobleAes256Gcm,
  nobleChaCha20Poly1305,
  nodeAes256Gcm,
  nodeChaCha20Poly1305,
  prepareKey,
  type RawAead,
} from "../../../src/crypto/index.js";
import { hex, readVectors, toHex, type AeadGroup, type WycheproofFile } from "./vectors.js";

/**
 * Wycheproof through the exact functions TenantCipher calls: the suite codecs
 * (XChaCha20-Poly1305 on both paths) and the raw AEADs under them
 * (ChaCha20-Poly1305 for the node XChaCha path, AES-256-GCM for XAES), HKDF and
 * the truncated HMAC of the blind index. Parameter sets our format cannot
 * express (other key, nonce or tag sizes) are counted and must all be
 * vectors whose parameters the format rejects by construction.
 */
function runAead(file: WycheproofFile<AeadGroup>, aeads: readonly RawAead[], fits: (g: AeadGroup) => boolean) {
  let run = 0;
  let outOfScope = 0;
  for (const group of file.testGroups) {
    if (!fits(group)) {
      outOfScope += group.tests.length;
      // Parameters the format never produces: open must still refuse them without throwing.
      for (const t of group.tests) {
        if (t.result !== "invalid") continue;
        for (const aead of aeads) expect(aead.open(hex(t.key), hex(t.iv), hex(t.aad), hex(t.ct + t.tag)), `${aead.name} tc${t.tcId}`).toBeUndefined();
      }
      continue;
    }
    for (const t of group.tests) {
      for (const aead of aeads) {
        const key = hex(t.key);
        const nonce = hex(t.iv);
        const aad = hex(t.aad);
        const msg = hex(t.msg);
        const expected = t.ct + t.tag;
        const opened = aead.open(key, nonce, aad, hex(expected));
        if (t.result === "valid") {
          const out = new Uint8Array(msg.length + 16);
          aead.seal(key, nonce, aad, msg, out, 0);
          expect(toHex(out), `${aead.name} tc${t.tcId} seal`).toBe(expected);
          expect(opened && toHex(opened), `${aead.name} tc${t.tcId} open`).toBe(t.msg);
        } else {
          expect(opened, `${aead.name} tc${t.tcId} (${t.comment}) must not open`).toBeUndefined();
        }
        run++;
      }
    }
  }
  return { run, outOfScope };
}

describe("Wycheproof", () => {
  it("xchacha20_poly1305: the XChaCha suite codec on the node path and the noble path", () => {
    const file = readVectors<WycheproofFile<AeadGroup>>("wycheproof/xchacha20_poly1305_test.json");
    let run = 0;
    let outOfScope = 0;
    for (const group of file.testGroups) {
      if (group.ivSize !== 192 || group.keySize !== 256 || group.tagSize !== 128) {
        outOfScope += group.tests.length;
        // Nonces other than 24 bytes cannot be written into an envelope (the field is fixed); all are
        // invalid vectors, and the codecs refuse them on both paths without throwing.
        for (const t of group.tests) {
          expect(t.result).toBe("invalid");
          for (const implementation of ["node", "noble"] as const) {
            expect(codecFor(0x01, implementation)?.open(prepareKey(hex(t.key)), hex(t.iv), hex(t.aad), hex(t.ct + t.tag))).toBeUndefined();
          }
        }
        continue;
      }
      for (const t of group.tests) {
        for (const implementation of ["node", "noble"] as const) {
          const codec = codecFor(0x01, implementation);
          if (!codec) throw new Error("missing codec");
          const key = prepareKey(hex(t.key));
          const opened = codec.open(key, hex(t.iv), hex(t.aad), hex(t.ct + t.tag));
          if (t.result === "valid") {
            const msg = hex(t.msg);
            const out = new Uint8Array(msg.length + 16);
            codec.seal(key, hex(t.iv), hex(t.aad), msg, out, 0);
            expect(toHex(out), `${implementation} tc${t.tcId}`).toBe(t.ct + t.tag);
            expect(opened && toHex(opened)).toBe(t.msg);
          } else expect(opened, `${implementation} tc${t.tcId}`).toBeUndefined();
          run++;
        }
      }
    }
    expect(run).toBe(2 * 306);
    expect(run / 2 + outOfScope).toBe(file.numberOfTests);
  });

  it("chacha20_poly1305: the raw ChaCha20-Poly1305 under the node XChaCha path, and noble's", () => {
    const file = readVectors<WycheproofFile<AeadGroup>>("wycheproof/chacha20_poly1305_test.json");
    const { run, outOfScope } = runAead(file, [nodeChaCha20Poly1305, nobleChaCha20Poly1305], (g) => g.ivSize === 96);
    expect(run).toBe(2 * 316);
    expect(run / 2 + outOfScope).toBe(file.numberOfTests);
  });

  it("aes_gcm: the raw AES-256-GCM under XAES (256-bit key, 96-bit nonce, 128-bit tag), node and noble", () => {
    const file = readVectors<WycheproofFile<AeadGroup>>("wycheproof/aes_gcm_test.json");
    const { run, outOfScope } = runAead(
      file,
      [nodeAes256Gcm, nobleAes256Gcm],
      (g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128,
    );
    expect(run).toBe(2 * 66);
    expect(run / 2 + outOfScope).toBe(file.numberOfTests);
  });

  it("hkdf_sha256: the HKDF behind blind-index subkeys", () => {
    const file = readVectors<
      WycheproofFile<{ tests: { tcId: number; ikm: string; salt: string; info: string; size: number; okm: string; result: string }[] }>
    >("wycheproof/hkdf_sha256_test.json");
    let run = 0;
    for (const group of file.testGroups) {
      for (const t of group.tests) {
        const out = hkdfSha256(hex(t.ikm), hex(t.salt), hex(t.info), t.size);
        if (t.result === "valid") expect(out.isOk() && toHex(out.value), `tc${t.tcId}`).toBe(t.okm);
        else expect(out.isErr(), `tc${t.tcId}`).toBe(true);
        run++;
      }
    }
    expect(run).toBe(file.numberOfTests);
  });

  it("hmac_sha256: the truncated HMAC of blind indexes", () => {
    const file = readVectors<
      WycheproofFile<{ tagSize: number; tests: { tcId: number; key: string; msg: string; tag: string; result: string }[] }>
    >("wycheproof/hmac_sha256_test.json");
    let run = 0;
    for (const group of file.testGroups) {
      for (const t of group.tests) {
        const mac = toHex(hmacSha256Truncated(hex(t.key), hex(t.msg), group.tagSize / 8));
        if (t.result === "valid") expect(mac, `tc${t.tcId}`).toBe(t.tag);
        else expect(mac, `tc${t.tcId}`).not.toBe(t.tag);
        run++;
      }
    }
    expect(run).toBe(file.numberOfTests);
  });
});
