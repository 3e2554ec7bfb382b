import { describe, expect, it } from "vitest";
import { localKeyWrapper, parseEnvelope, TenantCipher, type KeyTombstone } from "../../../src/crypto/index.js";
import { countingWrapper, makeCipher, newWorkspace, okValue, ROOT_A, ROOT_B } from "./helpers.js";

const purpose = "secret:sendgrid";

describe("keyring, cache and lifecycle", () => {
  it("never unwraps on the hot path: one unwrap per workspace per cache fill", async () => {
    const { cipher, wrapper } = makeCipher();
    const workspaceId = newWorkspace();
    for (let i = 0; i < 500; i++) {
      const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: `v${i}` }));
      okValue(await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed }));
    }
    expect(wrapper.wraps).toBe(1);
    expect(wrapper.unwraps).toBe(1);
  });

  it("reloads after max age and after max uses", async () => {
    const { cipher, wrapper, clock } = makeCipher({ cache: { maxAgeMs: 1_000, maxUses: 10 } });
    const workspaceId = newWorkspace();
    for (let i = 0; i < 10; i++) okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(1);
    okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(2);
    clock.advance(999);
    okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(2);
    clock.advance(1);
    okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(3);
  });

  it("concurrent first uses of a workspace create one key and share one load", async () => {
    const { cipher, wrapper, store } = makeCipher();
    const workspaceId = newWorkspace();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => cipher.encrypt({ workspaceId, purpose, plaintext: `p${i}` })));
    expect(results.every((r) => r.isOk())).toBe(true);
    const keys = okValue(await store.load(workspaceId)).keys;
    expect(keys).toHaveLength(1);
    expect(wrapper.unwraps).toBeLessThanOrEqual(2);
  });

  it("encryptions racing rotations and cache reloads all stay decryptable", async () => {
    const { cipher } = makeCipher({ cache: { maxUses: 7 } });
    const workspaceId = newWorkspace();
    const work: Promise<unknown>[] = [];
    const sealed: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 300; i++) {
      sealed.push(cipher.encrypt({ workspaceId, purpose, plaintext: `value ${i}` }).then(okValue));
      if (i % 40 === 0) work.push(cipher.rotate({ workspaceId }));
    }
    await Promise.all(work);
    const envelopes = await Promise.all(sealed);
    for (const [i, envelope] of envelopes.entries()) {
      const opened = await cipher.decrypt({ workspaceId, purpose, ciphertext: envelope });
      expect(Buffer.from(okValue(opened)).toString()).toBe(`value ${i}`);
    }
  });

  it("never repeats a nonce: 100,000 envelopes from the pooled system source, across pool refills", async () => {
    const { cipher } = makeCipher();
    const workspaceId = newWorkspace();
    okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "warm" }));
    const field = okValue(cipher.field({ workspaceId, purpose }));
    const seen = new Set<string>();
    const plaintext = new Uint8Array([1]);
    for (let i = 0; i < 100_000; i++) {
      const sealed = cipher.encryptWarm(field, plaintext);
      if (sealed === undefined) throw new Error("cache went cold");
      seen.add(Buffer.from(okValue(sealed).subarray(6, 30)).toString("base64"));
    }
    expect(seen.size).toBe(100_000);
  });

  it("keeps at most maxEntries workspaces unwrapped", async () => {
    const { cipher, wrapper } = makeCipher({ cache: { maxEntries: 2 } });
    const [a, b, c] = [newWorkspace(), newWorkspace(), newWorkspace()];
    for (const workspaceId of [a, b, c]) okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(3);
    okValue(await cipher.encrypt({ workspaceId: c, purpose, plaintext: "x" }));
    okValue(await cipher.encrypt({ workspaceId: b, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(3);
    okValue(await cipher.encrypt({ workspaceId: a, purpose, plaintext: "x" }));
    expect(wrapper.unwraps).toBe(4);
  });

  it("reports unwraps and authentication failures per workspace to a metrics sink", async () => {
    const counts = new Map<string, number>();
    const metrics = { add: (ws: string, name: string, v: number) => void counts.set(`${ws}/${name}`, (counts.get(`${ws}/${name}`) ?? 0) + v), observe: () => undefined };
    const { cipher } = makeCipher({ metrics });
    const [a, b] = [newWorkspace(), newWorkspace()];
    const sealed = okValue(await cipher.encrypt({ workspaceId: a, purpose, plaintext: "x" }));
    okValue(await cipher.encrypt({ workspaceId: b, purpose, plaintext: "x" }));
    for (let i = 0; i < 3; i++) expect((await cipher.decrypt({ workspaceId: b, purpose, ciphertext: sealed })).isErr()).toBe(true);
    expect(counts.get(`${a}/crypto_key_unwraps_total`)).toBe(1);
    expect(counts.get(`${b}/crypto_auth_failures_total`)).toBe(3);
    expect(counts.get(`${a}/crypto_auth_failures_total`)).toBeUndefined();
  });

  it("rotate: new primary version, old versions decrypt only", async () => {
    const { cipher, store } = makeCipher();
    const workspaceId = newWorkspace();
    const old = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "old" }));
    expect(okValue(await cipher.rotate({ workspaceId })).version).toBe(2);
    const fresh = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "new" }));
    expect(okValue(parseEnvelope(fresh)).keyVersion).toBe(2);
    expect(okValue(parseEnvelope(old)).keyVersion).toBe(1);
    expect(Buffer.from(okValue(await cipher.decrypt({ workspaceId, purpose, ciphertext: old }))).toString()).toBe("old");
    const states = okValue(await store.load(workspaceId)).keys.map((k) => [k.version, k.state]);
    expect(states).toEqual([
      [1, "retired"],
      [2, "active"],
    ]);
  });

  it("a process that has not seen a rotation decrypts the new version by reloading once", async () => {
    const a = makeCipher();
    const b = new TenantCipher({ store: a.store, keyWrapper: a.wrapper, clock: a.clock });
    const workspaceId = newWorkspace();
    okValue(await b.encrypt({ workspaceId, purpose, plaintext: "warm b" }));
    okValue(await a.cipher.rotate({ workspaceId }));
    const fresh = okValue(await a.cipher.encrypt({ workspaceId, purpose, plaintext: "v2" }));
    // Within the reload interval b answers a retryable KeyNotFound; after it, b reloads once and decrypts.
    expect((await b.decrypt({ workspaceId, purpose, ciphertext: fresh }))._unsafeUnwrapErr()).toMatchObject({ type: "KeyNotFound", retryable: true });
    a.clock.advance(1_000);
    expect(Buffer.from(okValue(await b.decrypt({ workspaceId, purpose, ciphertext: fresh }))).toString()).toBe("v2");
  });

  it("forged headers naming unknown key versions reload the store at most once per interval", async () => {
    const { cipher, clock, store } = makeCipher({ cache: { maxAgeMs: 60_000, unknownVersionReloadMs: 1_000 } });
    let loads = 0;
    const load = store.load.bind(store);
    store.load = (workspaceId) => {
      loads++;
      return load(workspaceId);
    };
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    const before = loads;
    for (let i = 0; i < 200; i++) {
      const forged = new Uint8Array(sealed);
      new DataView(forged.buffer).setUint32(2, 1_000 + i);
      expect((await cipher.decrypt({ workspaceId, purpose, ciphertext: forged }))._unsafeUnwrapErr().type).toBe("KeyNotFound");
      if (i === 99) clock.advance(1_000);
    }
    expect(loads - before).toBe(1);
    const older = new Uint8Array(sealed);
    new DataView(older.buffer).setUint32(2, 1);
    expect((await cipher.decrypt({ workspaceId, purpose, ciphertext: older })).isOk()).toBe(true);
  });

  it("destroy: KeyDestroyed at once here, in another process after its cache max age, with a tombstone", async () => {
    const a = makeCipher({ cache: { maxAgeMs: 5_000 } });
    const b = new TenantCipher({ store: a.store, keyWrapper: a.wrapper, clock: a.clock, cache: { maxAgeMs: 5_000 } });
    const workspaceId = newWorkspace();
    const other = newWorkspace();
    const sealed = okValue(await a.cipher.encrypt({ workspaceId, purpose, plaintext: "pii" }));
    const otherSealed = okValue(await a.cipher.encrypt({ workspaceId: other, purpose, plaintext: "keep" }));
    okValue(await b.decrypt({ workspaceId, purpose, ciphertext: sealed }));
    const tombstone = okValue(await a.cipher.destroy({ workspaceId, by: "admin@acme.test" }));
    expect(tombstone).toMatchObject({ workspaceId, destroyedBy: "admin@acme.test", destroyedAt: a.clock.now(), versionsDestroyed: 1 });
    const here = await a.cipher.decrypt({ workspaceId, purpose, ciphertext: sealed });
    expect(here._unsafeUnwrapErr()).toMatchObject({ type: "KeyDestroyed", destroyedBy: "admin@acme.test" });
    expect((await a.cipher.encrypt({ workspaceId, purpose, plaintext: "new" }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await a.cipher.rotate({ workspaceId }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await a.cipher.blindIndex({ workspaceId, purpose, value: "x" }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    // b still holds the key until its cache entry ages out: the documented bound.
    expect((await b.decrypt({ workspaceId, purpose, ciphertext: sealed })).isOk()).toBe(true);
    a.clock.advance(5_000);
    expect((await b.decrypt({ workspaceId, purpose, ciphertext: sealed }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await b.encrypt({ workspaceId, purpose, plaintext: "x" }))._unsafeUnwrapErr().type).toBe("KeyDestroyed");
    expect((await b.decrypt({ workspaceId: other, purpose, ciphertext: otherSealed })).isOk()).toBe(true);
    const stored = okValue(await a.store.load(workspaceId));
    expect(stored.keys.every((k) => k.wrappedKey === null && k.state === "destroyed")).toBe(true);
    const again = okValue(await a.cipher.destroy({ workspaceId, by: "someone else" }));
    expect(again.destroyedBy).toBe("admin@acme.test");
  });

  it("rewrapAll moves every data key to the new primary root key without touching data", async () => {
    const store = makeCipher().store;
    const before = new TenantCipher({ store, keyWrapper: localKeyWrapper([ROOT_A]) });
    const workspaces = Array.from({ length: 7 }, newWorkspace);
    const sealed = new Map<string, Uint8Array>();
    for (const workspaceId of workspaces) sealed.set(workspaceId, okValue(await before.encrypt({ workspaceId, purpose, plaintext: workspaceId })));
    okValue(await before.rotate({ workspaceId: workspaces[0] ?? "" }));
    const destroyed = workspaces[1] ?? "";
    okValue(await before.destroy({ workspaceId: destroyed, by: "test" }));
    const during = new TenantCipher({ store, keyWrapper: localKeyWrapper([ROOT_B, ROOT_A]) });
    const progress: number[] = [];
    const stats = okValue(
      await during.rewrapAll({ batchSize: 3, onProgress: (s) => progress.push(s.scanned) }),
    );
    expect(stats).toMatchObject({ scanned: 8, rewrapped: 7, destroyed: 1, alreadyCurrent: 0 });
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(okValue(await during.rewrapAll())).toMatchObject({ rewrapped: 0, alreadyCurrent: 7 });
    const after = new TenantCipher({ store, keyWrapper: localKeyWrapper([ROOT_B]) });
    for (const workspaceId of workspaces) {
      const result = await after.decrypt({ workspaceId, purpose, ciphertext: sealed.get(workspaceId) ?? new Uint8Array() });
      if (workspaceId === destroyed) expect(result._unsafeUnwrapErr().type).toBe("KeyDestroyed");
      else expect(Buffer.from(okValue(result)).toString()).toBe(workspaceId);
    }
  });

  it("a wrapped data key copied to another workspace does not unwrap", async () => {
    const { cipher, store } = makeCipher();
    const [victim, attacker] = [newWorkspace(), newWorkspace()];
    okValue(await cipher.encrypt({ workspaceId: victim, purpose, plaintext: "x" }));
    const record = okValue(await store.load(victim)).keys[0];
    const wrapper = localKeyWrapper([ROOT_A]);
    const moved = await wrapper.unwrap({ rootKeyId: record?.rootKeyId ?? "", wrapped: record?.wrappedKey ?? new Uint8Array(), context: { workspaceId: attacker, version: 1 } });
    expect(moved._unsafeUnwrapErr().type).toBe("KeyUnavailable");
    const otherVersion = await wrapper.unwrap({ rootKeyId: record?.rootKeyId ?? "", wrapped: record?.wrappedKey ?? new Uint8Array(), context: { workspaceId: victim, version: 2 } });
    expect(otherVersion.isErr()).toBe(true);
    const unknownRoot = await wrapper.unwrap({ rootKeyId: "root-z", wrapped: record?.wrappedKey ?? new Uint8Array(), context: { workspaceId: victim, version: 1 } });
    expect(unknownRoot._unsafeUnwrapErr().message).toMatch(/not configured/);
  });

  it("a missing root key is a typed KeyUnavailable on decrypt, not a throw", async () => {
    const { store, cipher } = makeCipher();
    const workspaceId = newWorkspace();
    const sealed = okValue(await cipher.encrypt({ workspaceId, purpose, plaintext: "x" }));
    const wrongRoot = new TenantCipher({ store, keyWrapper: countingWrapper(localKeyWrapper([ROOT_B])) });
    expect((await wrongRoot.decrypt({ workspaceId, purpose, ciphertext: sealed }))._unsafeUnwrapErr().type).toBe("KeyUnavailable");
  });
});
