import { randomUUID } from "node:crypto";
import type { DataKeyRecord, KeyStore } from "../crypto/keys/key-store.js";

/** The test functions the contract needs; vitest and Jest both provide them. */
export interface ContractTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void>): void;
  expect: (value: unknown) => {
    toBe(expected: unknown): void;
    toEqual(expected: unknown): void;
    toMatchObject(expected: object): void;
    toHaveLength(n: number): void;
  };
}

const record = (workspaceId: string, version: number, fill: number, at = 1_000): DataKeyRecord => ({
  workspaceId,
  version,
  wrappedKey: new Uint8Array(72).fill(fill),
  rootKeyId: "root-a",
  state: "active",
  createdAt: at,
  updatedAt: at,
});

/**
 * The behaviour every TenantCipher KeyStore adapter must have. Run it against
 * your own adapter: `runKeyStoreContract({ describe, it, expect }, "mine", () => makeStore())`.
 */
export function runKeyStoreContract(t: ContractTestApi, name: string, makeStore: () => Promise<KeyStore> | KeyStore): void {
  const { describe, it, expect } = t;
  describe(`KeyStore contract: ${name}`, () => {
    it("adds versions atomically, retiring the previous active one, and refuses duplicates", async () => {
      const store = await makeStore();
      const ws = randomUUID();
      expect((await store.load(ws))._unsafeUnwrap()).toEqual({ keys: [] });
      expect((await store.addVersion(record(ws, 1, 1)))._unsafeUnwrap()).toBe("added");
      expect((await store.addVersion(record(ws, 1, 9)))._unsafeUnwrap()).toBe("exists");
      expect((await store.addVersion(record(ws, 2, 2, 2_000)))._unsafeUnwrap()).toBe("added");
      const { keys } = (await store.load(ws))._unsafeUnwrap();
      expect(keys.map((k) => [k.version, k.state, k.wrappedKey?.[0]])).toEqual([
        [1, "retired", 1],
        [2, "active", 2],
      ]);
      expect(keys[1]).toMatchObject({ rootKeyId: "root-a", createdAt: 2_000 });
    });

    it("replaces a wrapped key only from the expected root key", async () => {
      const store = await makeStore();
      const ws = randomUUID();
      await store.addVersion(record(ws, 1, 1));
      const change = { workspaceId: ws, version: 1, rootKeyId: "root-b", wrappedKey: new Uint8Array(72).fill(7), at: 5_000 };
      expect((await store.replaceWrapped({ ...change, expectedRootKeyId: "root-x" }))._unsafeUnwrap()).toBe(false);
      expect((await store.replaceWrapped({ ...change, expectedRootKeyId: "root-a" }))._unsafeUnwrap()).toBe(true);
      expect((await store.replaceWrapped({ ...change, expectedRootKeyId: "root-a" }))._unsafeUnwrap()).toBe(false);
      const [key] = (await store.load(ws))._unsafeUnwrap().keys;
      expect(key).toMatchObject({ rootKeyId: "root-b", updatedAt: 5_000 });
      expect(key?.wrappedKey?.[0]).toBe(7);
    });

    it("destroy wipes every version, writes one tombstone, is idempotent and blocks new versions", async () => {
      const store = await makeStore();
      const ws = randomUUID();
      const other = randomUUID();
      await store.addVersion(record(ws, 1, 1));
      await store.addVersion(record(ws, 2, 2));
      await store.addVersion(record(other, 1, 3));
      const tombstone = (await store.destroy({ workspaceId: ws, by: "ops@acme", at: 9_000 }))._unsafeUnwrap();
      expect(tombstone).toEqual({ workspaceId: ws, destroyedAt: 9_000, destroyedBy: "ops@acme", versionsDestroyed: 2 });
      expect((await store.destroy({ workspaceId: ws, by: "again", at: 10_000 }))._unsafeUnwrap()).toEqual(tombstone);
      const loaded = (await store.load(ws))._unsafeUnwrap();
      expect(loaded.tombstone).toEqual(tombstone);
      expect(loaded.keys.map((k) => [k.state, k.wrappedKey])).toEqual([
        ["destroyed", null],
        ["destroyed", null],
      ]);
      expect((await store.addVersion(record(ws, 3, 3)))._unsafeUnwrap()).toBe("destroyed");
      expect((await store.replaceWrapped({ workspaceId: ws, version: 1, expectedRootKeyId: "root-a", rootKeyId: "b", wrappedKey: new Uint8Array(72), at: 1 }))._unsafeUnwrap()).toBe(false);
      expect((await store.load(other))._unsafeUnwrap().keys[0]?.state).toBe("active");
    });

    it("concurrent addVersion of one version: exactly one wins", async () => {
      const store = await makeStore();
      const ws = randomUUID();
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => store.addVersion(record(ws, 1, i + 1))));
      expect(outcomes.filter((o) => o._unsafeUnwrap() === "added")).toHaveLength(1);
      expect((await store.load(ws))._unsafeUnwrap().keys).toHaveLength(1);
    });

    it("lists every record in (workspace, version) order, page by page", async () => {
      const store = await makeStore();
      const mine: string[] = Array.from({ length: 5 }, () => randomUUID());
      for (const ws of mine) {
        await store.addVersion(record(ws, 1, 1));
        await store.addVersion(record(ws, 2, 2));
      }
      const seen: string[] = [];
      let after: { workspaceId: string; version: number } | undefined;
      for (;;) {
        const page = (await store.list(after === undefined ? { limit: 3 } : { after, limit: 3 }))._unsafeUnwrap();
        for (const r of page) seen.push(`${r.workspaceId}/${r.version}`);
        const last = page[page.length - 1];
        if (last === undefined || page.length < 3) break;
        after = { workspaceId: last.workspaceId, version: last.version };
      }
      const expected = [...mine].sort().flatMap((ws) => [`${ws}/1`, `${ws}/2`]);
      expect(seen.filter((s) => mine.includes(s.slice(0, 36)))).toEqual(expected);
      expect([...seen].sort()).toEqual(seen);
    });
  });
}
