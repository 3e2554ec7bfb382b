import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/core/random.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import {
  codecFor,
  decryptLegacySecret,
  FieldCore,
  fromText,
  localKeyWrapper,
  memoryKeyStore,
  prepareKey,
  TenantCipher,
  toText,
} from "../../../src/crypto/index.js";
import { injectedNonces } from "../../../src/crypto/nonce-source.js";

interface FrozenEnvelope {
  name: string;
  suite: 1 | 2;
  keyVersion: number;
  workspaceId: string;
  purpose: string;
  nonce: string;
  plaintext: string | { seed: number; size: number };
  envelope: string | { sha256: string; length: number };
}
interface Frozen {
  rootKey: { id: string; key: string };
  keys: { workspaceId: string; version: number; dataKey: string; wrappedKey: string }[];
  envelopes: FrozenEnvelope[];
  legacy: { secretKey: string; values: { plaintext: string; value: { iv: string; encryptedData: string; authTag: string } }[] };
  blindIndexes: { workspaceId: string; purpose: string; value: string; bits: number; index: string }[];
}

const frozen = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "fixtures/format-vectors.json"), "utf8")) as Frozen;
const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));
const plaintextOf = (v: FrozenEnvelope) => (typeof v.plaintext === "string" ? bytes(v.plaintext) : seededRandom(v.plaintext.seed).bytes(v.plaintext.size));
const dataKeyOf = (workspaceId: string, version: number) => {
  const key = frozen.keys.find((k) => k.workspaceId === workspaceId && k.version === version);
  if (!key) throw new Error(`no frozen key ${workspaceId} v${version}`);
  return bytes(key.dataKey);
};
const sameAs = (envelope: Uint8Array, expected: FrozenEnvelope["envelope"]) =>
  typeof expected === "string"
    ? toText(envelope) === expected
    : envelope.length === expected.length && createHash("sha256").update(envelope).digest("hex") === expected.sha256;

let cipher: TenantCipher;
beforeAll(async () => {
  const store = memoryKeyStore();
  for (const key of frozen.keys) {
    const added = await store.addVersion({
      workspaceId: key.workspaceId,
      version: key.version,
      wrappedKey: bytes(key.wrappedKey),
      rootKeyId: frozen.rootKey.id,
      state: "active",
      createdAt: 0,
      updatedAt: 0,
    });
    expect(added._unsafeUnwrap()).toBe("added");
  }
  const root = { id: frozen.rootKey.id, key: new Uint8Array(Buffer.from(frozen.rootKey.key, "base64")) };
  cipher = new TenantCipher({ store, keyWrapper: localKeyWrapper([root]), allowEmpty: true });
});

describe("frozen format v1 vectors", () => {
  it("has at least 50 envelope vectors covering both suites, sizes 0 B to 64 KiB and key versions up to 2^32-1", () => {
    expect(frozen.envelopes.length).toBeGreaterThanOrEqual(50);
    expect(new Set(frozen.envelopes.map((v) => v.suite))).toEqual(new Set([1, 2]));
    expect(Math.max(...frozen.envelopes.map((v) => v.keyVersion))).toBe(4294967295);
  });

  it.each(["node", "noble"] as const)("re-sealing every vector on the %s path gives the frozen bytes", (implementation) => {
    for (const v of frozen.envelopes) {
      const codec = codecFor(v.suite, implementation);
      if (!codec) throw new Error("codec");
      const field = new FieldCore(parseWorkspaceId(v.workspaceId)._unsafeUnwrap(), v.purpose);
      const nonce = { bytes: () => bytes(v.nonce) };
      const sealed = field.seal(codec, v.keyVersion, prepareKey(dataKeyOf(v.workspaceId, v.keyVersion)), injectedNonces(nonce), plaintextOf(v));
      expect(sameAs(sealed, v.envelope), v.name).toBe(true);
    }
  });

  it("every frozen envelope decrypts through TenantCipher from its wrapped keys; the large ones round-trip", async () => {
    for (const v of frozen.envelopes) {
      if (typeof v.envelope !== "string") continue;
      const opened = await cipher.decrypt({ workspaceId: v.workspaceId, purpose: v.purpose, ciphertext: v.envelope });
      expect(Buffer.from(opened._unsafeUnwrap()).toString("hex"), v.name).toBe(Buffer.from(plaintextOf(v)).toString("hex"));
      const binary = fromText(v.envelope)._unsafeUnwrap();
      expect((await cipher.decrypt({ workspaceId: v.workspaceId, purpose: `${v.purpose}x`, ciphertext: binary }))._unsafeUnwrapErr().type).toBe("AuthFailed");
    }
    expect(frozen.envelopes.filter((v) => typeof v.envelope !== "string")).toHaveLength(2);
  });

  it("frozen wrapped keys unwrap to their data keys and are bound to workspace and version", async () => {
    const root = { id: frozen.rootKey.id, key: new Uint8Array(Buffer.from(frozen.rootKey.key, "base64")) };
    const wrapper = localKeyWrapper([root]);
    for (const key of frozen.keys) {
      const context = { workspaceId: key.workspaceId, version: key.version };
      const unwrapped = await wrapper.unwrap({ rootKeyId: root.id, wrapped: bytes(key.wrappedKey), context });
      expect(Buffer.from(unwrapped._unsafeUnwrap()).toString("hex")).toBe(key.dataKey);
      expect((await wrapper.unwrap({ rootKeyId: root.id, wrapped: bytes(key.wrappedKey), context: { ...context, version: key.version + 1 } })).isErr()).toBe(true);
    }
  });

  it("frozen legacy Dittofeed secrets decrypt", () => {
    const key = new Uint8Array(Buffer.from(frozen.legacy.secretKey, "base64"));
    for (const v of frozen.legacy.values) expect(decryptLegacySecret(key, v.value)._unsafeUnwrap()).toBe(v.plaintext);
  });

  it("frozen blind indexes are reproduced through TenantCipher", async () => {
    for (const v of frozen.blindIndexes) {
      const index = await cipher.blindIndex({ workspaceId: v.workspaceId, purpose: v.purpose, value: v.value, bits: v.bits });
      expect(index._unsafeUnwrap()).toBe(v.index);
    }
  });
});
