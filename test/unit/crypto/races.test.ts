import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptLegacySecret, memoryKeyStore, parseEnvelope, parseRootKeys, TenantCipher, type KeyStore } from "../../../src/crypto/index.js";
import { makeCipher, newWorkspace, okValue } from "./helpers.js";

/**
 * Key loads that race a destroy or a rotation, and inputs that used to slip
 * past typed errors. A slow store makes the race real: the load has read the
 * store before the change and returns after it.
 */
const purpose = "secret:sendgrid";

/** A memory key store whose loads answer after the caller releases them (the read itself happens at once). */
function slowLoads(): KeyStore & { release(): void } {
  const inner = memoryKeyStore();
  let waiting: (() => void)[] = [];
  const store = Object.create(inner) as KeyStore & { release(): void };
  store.load = async (workspaceId) => {
    const read = await inner.load(workspaceId);
    await new Promise<void>((resolve) => waiting.push(resolve));
    return read;
  };
  store.release = () => {
    for (const resolve of waiting) resolve();
    waiting = [];
  };
  return store;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("TenantCipher: races and inputs", () => {
  it("a key load that read the store before a destroy never brings the keys back after destroy returned", async () => {
    const store = slowLoads();
    const { cipher } = makeCipher({ store });
    const workspaceId = newWorkspace();
    const encrypting = cipher.encrypt({ workspaceId, purpose, plaintext: "before" });
    await turn();
    store.release();
    await turn();
    store.release();
    const sealed = okValue(await encrypting);
    cipher.keyring.invalidate(workspaceId);
    // A decrypt starts a load; it reads the keys, then waits while the workspace is destroyed.
    const racing = cipher.decrypt({ workspaceId, purpose, ciphertext: sealed });
    await turn();
    const destroying = cipher.destroy({ workspaceId, by: "admin" });
    await turn();
    store.release();
    okValue(await destroying);
    expect((await racing)._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await cipher.encrypt({ workspaceId, purpose, plaintext: "after" }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await cipher.blindIndex({ workspaceId, purpose, value: "x" }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
  });

  it("a key load that read the store before a rotation does not keep this process sealing under the old version", async () => {
    const store = slowLoads();
    const inner = Object.getPrototypeOf(store) as KeyStore;
    let addGate: Promise<void> = Promise.resolve();
    let openAdd!: () => void;
    store.addVersion = async (record) => {
      await addGate;
      return inner.addVersion(record);
    };
    const { cipher } = makeCipher({ store });
    const workspaceId = newWorkspace();
    const first = cipher.encrypt({ workspaceId, purpose, plaintext: "v1" });
    for (let i = 0; i < 3; i++) {
      await turn();
      store.release();
    }
    const sealed = okValue(await first);
    addGate = new Promise<void>((resolve) => (openAdd = resolve));
    // The rotation reads the keys, then waits to store version 2.
    const rotating = cipher.rotate({ workspaceId });
    await turn();
    store.release();
    await turn();
    // Meanwhile a cold read (an expired entry) starts a load that reads version 1 only.
    cipher.keyring.invalidate(workspaceId);
    const racing = cipher.decrypt({ workspaceId, purpose, ciphertext: sealed });
    await turn();
    openAdd();
    expect(okValue(await rotating)).toMatchObject({ version: 2 });
    store.release();
    okValue(await racing);
    const after = cipher.encrypt({ workspaceId, purpose, plaintext: "after" });
    for (let i = 0; i < 3; i++) {
      await turn();
      store.release();
    }
    expect(okValue(parseEnvelope(okValue(await after))).keyVersion).toBe(2);
  });

  it("a root key written the wrong way round (key:id) is never echoed in the error", () => {
    const key = randomBytes(32).toString("base64");
    const problem = parseRootKeys(`${key}:k2026`)._unsafeUnwrapErr().message;
    expect(problem).not.toContain(key);
    expect(problem).not.toContain(key.slice(0, 12));
  });

  it("after a suite change, keyVersionsInUse counts envelopes of the old suite as stale, as reencrypt would", async () => {
    const old = makeCipher({ suite: "xchacha20-poly1305" });
    const workspaceId = newWorkspace();
    const sealed = okValue(await old.cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    const changed = new TenantCipher({ store: old.store, keyWrapper: old.wrapper, suite: "xaes-256-gcm" });
    const stale: unknown[] = [];
    const inventory = okValue(await changed.keyVersionsInUse({ rows: [{ workspaceId, value: sealed }], onStale: (row) => stale.push(row) }));
    expect(inventory).toMatchObject({ current: 0, stale: 1 });
    expect(stale).toHaveLength(1);
  });

  it("a legacy key of the wrong length is a LegacyFormat error, not an exception", () => {
    const secret = randomBytes(32);
    const iv = randomBytes(16);
    const aes = createCipheriv("aes-256-gcm", secret, iv);
    const encryptedData = Buffer.concat([aes.update("token"), aes.final()]).toString("hex");
    const legacy = { iv: iv.toString("hex"), encryptedData, authTag: aes.getAuthTag().toString("hex") };
    expect(decryptLegacySecret(new Uint8Array(16), legacy)._unsafeUnwrapErr().type).toBe("LegacyFormat");
  });
});
