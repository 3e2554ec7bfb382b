import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptLegacySecret, parseEnvelope, parseLegacySecretKey, fromText, type ReencryptStats } from "../../../src/crypto/index.js";
import { makeCipher, newWorkspace, okValue } from "./helpers.js";

/** What Dittofeed's secrets.ts writes: AES-256-GCM, 16-byte random IV, no AAD, hex fields. */
function legacyEncrypt(secretKey: string, text: string) {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(secretKey, "base64"), iv);
  const encryptedData = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]).toString("hex");
  return { iv: iv.toString("hex"), encryptedData, authTag: cipher.getAuthTag().toString("hex") };
}

const SECRET_KEY = randomBytes(32).toString("base64");
const purpose = "secret:gmail.token";

describe("legacy Dittofeed secrets and streaming reencrypt", () => {
  it("decrypts the secrets.ts format and rejects tampering and a wrong key with typed errors", () => {
    const key = okValue(parseLegacySecretKey(SECRET_KEY));
    const legacy = legacyEncrypt(SECRET_KEY, "ya29.oauth-token ✓");
    expect(okValue(decryptLegacySecret(key, legacy))).toBe("ya29.oauth-token ✓");
    // The last byte flipped (not set to 00, which it already is once in 256 runs).
    const last = Number.parseInt(legacy.encryptedData.slice(-2), 16) ^ 0xff;
    const tampered = { ...legacy, encryptedData: `${legacy.encryptedData.slice(0, -2)}${last.toString(16).padStart(2, "0")}` };
    expect(decryptLegacySecret(key, tampered)._unsafeUnwrapErr().type).toBe("LegacyFormat");
    const other = okValue(parseLegacySecretKey(randomBytes(32).toString("base64")));
    expect(decryptLegacySecret(other, legacy)._unsafeUnwrapErr().type).toBe("LegacyFormat");
    expect(decryptLegacySecret(key, { ...legacy, iv: "zz" })._unsafeUnwrapErr().type).toBe("LegacyFormat");
    expect(decryptLegacySecret(key, { ...legacy, iv: legacy.iv.slice(0, 24) })._unsafeUnwrapErr().message).toMatch(/IV/);
    expect(decryptLegacySecret(key, { ...legacy, authTag: legacy.authTag.slice(0, 24) })._unsafeUnwrapErr().message).toMatch(/tag/);
    expect(parseLegacySecretKey("c2hvcnQ=").isErr()).toBe(true);
  });

  it("rotates, migrates legacy and plaintext rows, skips current ones, counts failures, and reports progress", async () => {
    const { cipher } = makeCipher();
    const [w1, w2, shredded] = [newWorkspace(), newWorkspace(), newWorkspace()];
    const oldText = okValue(await cipher.encryptText({ workspaceId: w1, purpose, plaintext: "old-1" }));
    const oldBinary = okValue(await cipher.encrypt({ workspaceId: w1, purpose, plaintext: "old-bin" }));
    const lost = okValue(await cipher.encryptText({ workspaceId: shredded, purpose, plaintext: "gone" }));
    okValue(await cipher.rotate({ workspaceId: w1 }));
    const current = okValue(await cipher.encryptText({ workspaceId: w1, purpose, plaintext: "current" }));
    okValue(await cipher.destroy({ workspaceId: shredded, by: "gdpr-request-17" }));
    const rows = [
      { id: 1, workspaceId: w1, purpose, value: oldText as string | Uint8Array | null | object },
      { id: 2, workspaceId: w1, purpose, value: oldBinary },
      { id: 3, workspaceId: w1, purpose, value: current },
      { id: 4, workspaceId: w2, purpose, value: JSON.stringify(legacyEncrypt(SECRET_KEY, "legacy-json")) },
      { id: 5, workspaceId: w2, purpose, value: legacyEncrypt(SECRET_KEY, "legacy-object") },
      { id: 6, workspaceId: w2, purpose, value: "plain-api-key" },
      { id: 7, workspaceId: shredded, purpose, value: lost },
      { id: 8, workspaceId: w2, purpose, value: null },
    ];
    const inventory = okValue(
      await cipher.keyVersionsInUse({ rows: rows as { workspaceId: string; value: string | Uint8Array | object | null }[] }),
    );
    expect(inventory).toMatchObject({ stale: 2, current: 1, legacy: 2, plaintext: 1, destroyed: 1, byVersion: { "1": 3, "2": 1 } });
    const written = new Map<number, string | Uint8Array>();
    const progress: ReencryptStats[] = [];
    async function* stream() {
      for (const row of rows) yield row as { id: number; workspaceId: string; purpose: string; value: string | Uint8Array | null };
    }
    const stats = okValue(
      await cipher.reencrypt({
        rows: stream(),
        legacyKey: okValue(parseLegacySecretKey(SECRET_KEY)),
        plaintext: "encrypt",
        batchSize: 2,
        write: (updates) => {
          for (const u of updates) written.set(u.row.id, u.value);
        },
        onProgress: (s) => progress.push(s),
      }),
    );
    expect(stats).toMatchObject({ scanned: 8, reencrypted: 2, upToDate: 1, fromLegacy: 2, fromPlaintext: 1, skippedNull: 1, failed: 1 });
    expect(stats.failures[0]).toMatchObject({ index: 6, error: { type: "KeyDestroyed" } });
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect([...written.keys()].sort()).toEqual([1, 2, 4, 5, 6]);
    expect(written.get(2)).toBeInstanceOf(Uint8Array);
    const expected: Record<number, string> = { 1: "old-1", 2: "old-bin", 4: "legacy-json", 5: "legacy-object", 6: "plain-api-key" };
    for (const [id, value] of written) {
      const workspaceId = rows.find((r) => r.id === id)?.workspaceId ?? "";
      const bytes = typeof value === "string" ? okValue(fromText(value)) : value;
      expect(okValue(parseEnvelope(bytes)).keyVersion).toBe(workspaceId === w1 ? 2 : 1);
      expect(Buffer.from(okValue(await cipher.decrypt({ workspaceId, purpose, ciphertext: value }))).toString()).toBe(expected[id]);
    }
    // Second run: nothing left to do except the shredded row.
    const again = okValue(
      await cipher.reencrypt({ rows: rows.map((r) => ({ ...r, value: (written.get(r.id) ?? r.value) as string | Uint8Array | null })), write: () => undefined }),
    );
    expect(again).toMatchObject({ reencrypted: 0, upToDate: 6, failed: 1 });
  });

  it("without a legacy key or plaintext mode, such rows are counted failures; a failing write stops the run", async () => {
    const { cipher } = makeCipher();
    const workspaceId = newWorkspace();
    const rows = [
      { workspaceId, purpose, value: legacyEncrypt(SECRET_KEY, "x") },
      { workspaceId, purpose, value: "plaintext" },
    ];
    const stats = okValue(await cipher.reencrypt({ rows, write: () => undefined }));
    expect(stats.failed).toBe(2);
    expect(stats.failures.map((f) => f.error.type)).toEqual(["LegacyFormat", "MalformedCiphertext"]);
    const broken = await cipher.reencrypt({
      rows,
      plaintext: "encrypt",
      legacyKey: okValue(parseLegacySecretKey(SECRET_KEY)),
      write: () => Promise.reject(new Error("db down")),
    });
    expect(broken._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: true });
  });
});
