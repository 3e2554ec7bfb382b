import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/index.js";
import { memoryKeyStore, TenantCipher, toText } from "../../../src/crypto/index.js";
import { expectErrIff, expectTypedErr, hugeString, nonString, noProto, noThrow, ROOT_KEYS, str, throwingProxy, throwingToString, W, W2 } from "./hostile-values.js";

const MAX_PLAINTEXT = 1_024;
const PURPOSE = /^[A-Za-z0-9._:/@-]{1,128}$/;

describe("TenantCipher (memory key store)", () => {
  const clock = new ManualClock();
  const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore(), clock, maxPlaintextBytes: MAX_PLAINTEXT });
  const sealedFor = async () => (await cipher.encrypt({ workspaceId: W, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();

  it("decrypt of arbitrary, truncated, bit-flipped or misplaced ciphertexts: Err unless it is the untouched envelope in its place", async () => {
    const sealed = await sealedFor();
    const text = toText(sealed);
    const flip = (bytes: Uint8Array, bit: number) => {
      const out = Uint8Array.from(bytes);
      out[bit >> 3]! ^= 1 << (bit & 7);
      return out;
    };
    const ciphertext = fc.oneof(
      fc.constant(sealed),
      fc.constant(text),
      fc.uint8Array({ maxLength: 120 }),
      fc.nat({ max: sealed.length - 1 }).map((n) => sealed.slice(0, n)),
      fc.nat({ max: sealed.length * 8 - 1 }).map((bit) => flip(sealed, bit)),
      fc.nat({ max: sealed.length * 8 - 1 }).map((bit) => toText(flip(sealed, bit))),
      fc.uint8Array({ minLength: 1, maxLength: 4 }).map((extra) => Uint8Array.from([...sealed, ...extra])),
      fc.constantFrom(`${text}=`, text.toUpperCase(), text.slice(0, -1), `tc1.${text}`, text.replace("tc1.", "tc2."), ` ${text}`, "tc1.", ""),
      fc.string(),
      fc.base64String().map((s) => `tc1.${s}`),
      fc.constant(`tc1.${"A".repeat(2_000_000)}`),
      fc.constant(new Uint8Array(MAX_PLAINTEXT + 200)),
      nonString,
    );
    const sameBytes = (c: unknown) => (c instanceof Uint8Array && Buffer.from(c).equals(Buffer.from(sealed))) || c === text;
    await fc.assert(
      fc.asyncProperty(ciphertext, fc.constantFrom(W, W2, W.toUpperCase()), fc.constantFrom("secret:x", "secret:y", "secret:x "), async (c, workspaceId, purpose) => {
        const inPlace = workspaceId.toLowerCase() === W && purpose === "secret:x";
        const what = `decrypt(${str({ c, workspaceId, purpose })})`;
        const opened = await noThrow(what, () => cipher.decrypt({ workspaceId, purpose, ciphertext: c as never }));
        expectErrIff(opened, !(inPlace && sameBytes(c)), what);
        if (opened.isOk()) expect(Buffer.from(opened.value).toString()).toBe("hello");
        const openedText = await noThrow(`decryptText: ${what}`, () => cipher.decryptText({ workspaceId, purpose, ciphertext: c as never }));
        expectErrIff(openedText, !(inPlace && c === text), `decryptText: ${what}`);
        // Nothing a bad ciphertext did broke the workspace's keys.
        expect((await cipher.decrypt({ workspaceId: W, purpose: "secret:x", ciphertext: sealed })).isOk()).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("encrypt of hostile plaintexts and purposes: Err exactly for bad input; Ok round-trips", async () => {
    const plaintext = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 20 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom("", new Uint8Array(0), Buffer.from("buffer")),
      fc.constant("x".repeat(MAX_PLAINTEXT + 1)),
      fc.constant("é".repeat(600)), // 600 characters, 1,200 bytes
      fc.constant(new Uint8Array(MAX_PLAINTEXT + 1)),
      hugeString,
      nonString,
    );
    const purpose = fc.oneof(
      fc.constantFrom("secret:x", "user_property.email", "a", "p".repeat(128)),
      fc.stringMatching(/^[A-Za-z0-9._:/@-]{1,20}$/),
      fc.constantFrom("", "p".repeat(129), "secret x", "secret:x\n", "é"),
      fc.string({ maxLength: 10 }),
      nonString,
    );
    const bytesOf = (p: unknown): Uint8Array | undefined => (p instanceof Uint8Array ? p : typeof p === "string" && p.length <= MAX_PLAINTEXT ? Buffer.from(p, "utf8") : undefined);
    await fc.assert(
      fc.asyncProperty(plaintext, purpose, fc.boolean(), async (p, pur, asText) => {
        const bytes = bytesOf(p);
        const goodPlaintext = bytes !== undefined && bytes.length >= 1 && bytes.length <= MAX_PLAINTEXT && (!asText || typeof p === "string");
        const bad = !goodPlaintext || typeof pur !== "string" || !PURPOSE.test(pur);
        const what = `${asText ? "encryptText" : "encrypt"}(${str({ p: typeof p === "string" && p.length > 100 ? `${p.length} chars` : p, pur })})`;
        const input = { workspaceId: W, purpose: pur as never, plaintext: p as never };
        const sealed = await noThrow(what, () => (asText ? cipher.encryptText(input) : cipher.encrypt(input)));
        expectErrIff(sealed, bad, what);
        if (sealed.isOk()) {
          const opened = await cipher.decrypt({ workspaceId: W, purpose: pur as string, ciphertext: sealed.value });
          expect(Buffer.from(opened._unsafeUnwrap()).equals(Buffer.from(bytes!))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("blindIndex of hostile values, bit lengths and key versions: Err exactly for bad input; Ok is deterministic", async () => {
    await sealedFor(); // W has data key version 1 and no other
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }), hugeString, nonString);
    const bits = fc.oneof(fc.constant(undefined), fc.integer({ min: 4, max: 32 }).map((n) => n * 8), fc.constantFrom(0, 8, 24, 31, 33, 264, 128.5, NaN, Infinity, -128), fc.constantFrom("128", 128n), nonString);
    const keyVersion = fc.oneof(fc.constantFrom(undefined, 1, 2, 0, -1, 1.5, 2 ** 32, NaN), fc.constantFrom("1", 1n), nonString);
    await fc.assert(
      fc.asyncProperty(value, bits, keyVersion, async (v, b, k) => {
        // null is an absent option (defaulted with `??`), as everywhere in the library.
        const goodBits = b == null || (typeof b === "number" && Number.isInteger(b) && b % 8 === 0 && b >= 32 && b <= 256);
        const bad = !(typeof v === "string" || v instanceof Uint8Array) || !goodBits || !(k == null || k === 1);
        const what = `blindIndex(${str({ v: typeof v === "string" && v.length > 100 ? `${v.length} chars` : v, b, k })})`;
        const input = { workspaceId: W, purpose: "email", value: v as never, bits: b as never, keyVersion: k as never };
        const index = await noThrow(what, () => cipher.blindIndex(input));
        expectErrIff(index, bad, what);
        if (index.isOk()) expect((await cipher.blindIndex(input))._unsafeUnwrap()).toBe(index.value);
      }),
      { numRuns: 200 },
    );
  });

  it("destroy with a hostile `by`: Err, and the keys are not destroyed", async () => {
    const sealed = await sealedFor();
    const by = fc.oneof(fc.constantFrom("", "x".repeat(201)), hugeString, nonString);
    await fc.assert(
      fc.asyncProperty(by, async (b) => {
        const what = `destroy(${str(typeof b === "string" ? `${b.length} chars` : b)})`;
        expectTypedErr(await noThrow(what, () => cipher.destroy({ workspaceId: W, by: b as never })), what);
        expect((await cipher.decrypt({ workspaceId: W, purpose: "secret:x", ciphertext: sealed })).isOk(), "still decrypts").toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("crypto: blindIndex with bits of any type is InvalidInput (it rejected)", async () => {
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: memoryKeyStore() });
    for (const bits of [noProto(), throwingToString(), throwingProxy()]) {
      expectTypedErr(await noThrow("blindIndex", () => cipher.blindIndex({ workspaceId: W, purpose: "email", value: "v", bits: bits as never })), "blindIndex", ["InvalidInput"]);
    }
  });
});
