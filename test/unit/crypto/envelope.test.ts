import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OVERHEAD_BYTES, parseEnvelope, toText } from "../../../src/crypto/index.js";
import { makeCipher, newWorkspace, okValue } from "./helpers.js";

const purpose = "secret:sendgrid";

describe("TenantCipher envelope", () => {
  it.each(["xchacha20-poly1305", "xaes-256-gcm"] as const)("round-trips bytes and text with %s and names the suite and key version", async (suite) => {
    const { cipher } = makeCipher({ suite });
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "SG.secret-key" }));
    expect(sealed.length).toBe(OVERHEAD_BYTES + 13);
    const parsed = okValue(parseEnvelope(sealed));
    expect(parsed).toMatchObject({ suite: suite === "xchacha20-poly1305" ? 1 : 2, keyVersion: 1 });
    const opened = okValue(await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed }));
    expect(Buffer.from(opened).toString()).toBe("SG.secret-key");
    const text = okValue(await cipher.encryptText({ workspaceId, purpose, plaintext: "héllo ✓" }));
    expect(text).toMatch(/^tc1\.[A-Za-z0-9_-]+$/);
    expect(okValue(await cipher.decryptText({ workspaceId, purpose, ciphertext: text }))).toBe("héllo ✓");
  });

  it("decrypts both suites whatever the configured suite (same store, same keys)", async () => {
    const a = makeCipher({ suite: "xaes-256-gcm" });
    const b = new (a.cipher.constructor as typeof import("../../../src/crypto/index.js").TenantCipher)({
      store: a.store,
      keyWrapper: a.wrapper,
      suite: "xchacha20-poly1305",
      implementation: "noble",
    });
    const workspaceId = newWorkspace();
    const sealed = okValue(await a.cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(Buffer.from(okValue(await b.decrypt({ workspaceId, purpose, ciphertext: sealed }))).toString()).toBe("x");
  });

  it("fails with AuthFailed when the workspace or the purpose is swapped", async () => {
    const { cipher } = makeCipher();
    const [w1, w2] = [newWorkspace(), newWorkspace()];
    await cipher.encrypt({ workspaceId: w2, purpose, plaintext: "warm w2" });
    const sealed = okValue(await cipher.encrypt({ workspaceId: w1, purpose, plaintext: "secret" }));
    const wrongWorkspace = await cipher.decrypt({ workspaceId: w2, purpose, ciphertext: sealed });
    expect(wrongWorkspace._unsafeUnwrapErr()).toMatchObject({ type: "AuthFailed", workspaceId: w2 });
    const wrongPurpose = await cipher.decrypt({ workspaceId: w1, purpose: "secret:twilio", ciphertext: sealed });
    expect(wrongPurpose._unsafeUnwrapErr().type).toBe("AuthFailed");
  });

  it("property: any single bit flip, truncation or appended bytes is an Err, never plaintext (both suites)", async () => {
    for (const suite of ["xchacha20-poly1305", "xaes-256-gcm"] as const) {
      const { cipher } = makeCipher({ suite });
      const workspaceId = newWorkspace();
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 20 }), async (plaintext, bitSeed, cutSeed, extra) => {
          const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext }));
          const bit = bitSeed % (sealed.length * 8);
          const flipped = new Uint8Array(sealed);
          flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          const cut = sealed.subarray(0, cutSeed % sealed.length);
          const appended = new Uint8Array([...sealed, ...extra]);
          for (const bad of [flipped, cut, appended, toText(flipped)]) {
            const result = await cipher.decrypt({ workspaceId, purpose, ciphertext: bad });
            expect(result.isErr()).toBe(true);
            const error = result._unsafeUnwrapErr();
            // The error carries no data beyond its description: no field can hold plaintext.
            expect(Object.keys(error).every((k) => ["type", "message", "retryable", "workspaceId"].includes(k))).toBe(true);
            if (plaintext.length >= 8) expect(JSON.stringify(error)).not.toContain(Buffer.from(plaintext).toString("hex"));
          }
          const good = okValue(await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed }));
          expect(Buffer.from(good).equals(Buffer.from(plaintext))).toBe(true);
        }),
        { numRuns: 150 },
      );
    }
  });

  it("types the error of every bad input and never throws", async () => {
    const { cipher } = makeCipher({ maxPlaintextBytes: 1024 });
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "v" }));
    const cases: [unknown, string][] = [
      [cipher.encrypt({ workspaceId: "not-a-uuid", purpose, plaintext: "x" }), "InvalidWorkspaceId"],
      [cipher.encrypt({ workspaceId: 42 as unknown as string, purpose, plaintext: "x" }), "InvalidWorkspaceId"],
      [cipher.encrypt({ workspaceId, purpose: "", plaintext: "x" }), "InvalidInput"],
      [cipher.encrypt({ workspaceId, purpose: "has space", plaintext: "x" }), "InvalidInput"],
      [cipher.encrypt({ workspaceId, purpose: NaN as unknown as string, plaintext: "x" }), "InvalidInput"],
      [cipher.encrypt({ workspaceId, purpose, plaintext: "" }), "PlaintextSize"],
      [cipher.encrypt({ workspaceId, purpose, plaintext: new Uint8Array(1025) }), "PlaintextSize"],
      [cipher.encrypt({ workspaceId, purpose, plaintext: "x".repeat(1025) }), "PlaintextSize"],
      [cipher.encrypt({ workspaceId, purpose, plaintext: NaN as unknown as string }), "InvalidInput"],
      [cipher.encrypt({ workspaceId, purpose, plaintext: { a: 1 } as unknown as string }), "InvalidInput"],
      [cipher.encryptText({ workspaceId, purpose, plaintext: 7 as unknown as string }), "InvalidInput"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: null as unknown as string }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: new Uint8Array(10) }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: "plain text" }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: "tc1.%%%" }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: `${toText(sealed)}A` }), "AuthFailed"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: `${toText(sealed)}AB=` }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: new Uint8Array(5000) }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: `tc1.${"A".repeat(2_000_000)}` }), "MalformedCiphertext"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: withByte(sealed, 0, 0x02) }), "UnsupportedVersion"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: withByte(sealed, 1, 0x09) }), "UnsupportedSuite"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: withByte(sealed, 5, 0x07) }), "KeyNotFound"],
      [cipher.decrypt({ workspaceId, purpose, ciphertext: withByte(withByte(sealed, 2, 0), 5, 0) }), "MalformedCiphertext"],
      [cipher.decryptText({ workspaceId, purpose, ciphertext: sealed as unknown as string }), "MalformedCiphertext"],
      [cipher.rotate({ workspaceId: "nope" }), "InvalidWorkspaceId"],
      [cipher.destroy({ workspaceId, by: "" }), "InvalidInput"],
      [cipher.blindIndex({ workspaceId, purpose, value: "a", bits: 12 }), "InvalidInput"],
      [cipher.blindIndex({ workspaceId, purpose, value: 5 as unknown as string }), "InvalidInput"],
    ];
    for (const [promise, type] of cases) {
      const result = await (promise as Promise<{ isErr(): boolean; _unsafeUnwrapErr(): { type: string } }>);
      expect(result.isErr(), type).toBe(true);
      expect(result._unsafeUnwrapErr().type).toBe(type);
    }
  });

  it("rejects invalid UTF-8 in decryptText with a typed error", async () => {
    const { cipher } = makeCipher();
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: new Uint8Array([0xff, 0xfe]) }));
    const result = await cipher.decryptText({ workspaceId, purpose, ciphertext: toText(sealed) });
    expect(result._unsafeUnwrapErr().type).toBe("InvalidInput");
  });

  it("accepts an upper-case workspace id as the same workspace", async () => {
    const { cipher } = makeCipher();
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId: workspaceId.toUpperCase(), purpose, plaintext: "x" }));
    expect((await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed })).isOk()).toBe(true);
  });
});

function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = value;
  return copy;
}

describe("non-object and broken inputs to every public call", () => {
  it("returns typed errors, never throws", async () => {
    const { cipher } = makeCipher();
    const nothing = null as unknown as never;
    for (const call of [
      () => cipher.encrypt(nothing),
      () => cipher.decrypt(nothing),
      () => cipher.encryptText(nothing),
      () => cipher.decryptText(nothing),
      () => cipher.rotate(nothing),
      () => cipher.destroy(nothing),
      () => cipher.blindIndex(nothing),
      () => cipher.reencrypt(nothing),
      () => cipher.keyVersionsInUse(nothing),
      () => cipher.reencrypt({ rows: 5 as unknown as never, write: () => undefined }),
      () => cipher.reencrypt({ rows: [], write: () => undefined, batchSize: 0 }),
      () => cipher.keyVersionsInUse({ rows: "abc" as unknown as never }),
    ]) {
      const result = await call();
      expect(result.isErr()).toBe(true);
      expect(result._unsafeUnwrapErr().type).toBe("InvalidInput");
    }
    expect(cipher.field(undefined as unknown as never)._unsafeUnwrapErr().type).toBe("InvalidInput");
  });

  it("a failing row stream is a StoreFailed Err; null rows are counted, not thrown", async () => {
    const { cipher } = makeCipher();
    async function* broken() {
      yield { workspaceId: newWorkspace(), purpose, value: null };
      throw new Error("cursor closed");
    }
    const failed = await cipher.reencrypt({ rows: broken(), write: () => undefined });
    expect(failed._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: true });
    const inventory = await cipher.keyVersionsInUse({ rows: broken() });
    expect(inventory._unsafeUnwrapErr().type).toBe("StoreFailed");
    const stats = okValue(await cipher.reencrypt({ rows: [null as unknown as never], write: () => undefined }));
    expect(stats).toMatchObject({ scanned: 1, failed: 1 });
    const counted = okValue(await cipher.keyVersionsInUse({ rows: [null as unknown as never] }));
    expect(counted).toMatchObject({ rows: 1, malformed: 1 });
  });
});
