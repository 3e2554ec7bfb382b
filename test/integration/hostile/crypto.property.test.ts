import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TenantCipher, toText } from "../../../src/crypto/index.js";
import { migrateKeyStore, postgresKeyStore } from "../../../src/crypto/postgres.js";
import { expectErrIff, expectTypedErr, hugeString, nonString, noThrow, ROOT_KEYS, str, W2 } from "../../unit/hostile/hostile-values.js";
import { filePostgres, pgText, storable, unstorable } from "./stores.js";

/** TenantCipher on the Postgres key store with corrupt key rows and hostile input (see stores.ts). */

const pool = filePostgres("tk_hostile_crypto", migrateKeyStore);

describe("TenantCipher on the Postgres key store (real Postgres)", () => {
  type KeyRow = { version: number; wrapped_key: Buffer | null; root_key_id: string; state: string };
  const keyRows = async (ws: string) => (await pool().query<KeyRow>("select version::int as version, wrapped_key, root_key_id, state from tenancy_data_keys where workspace_id = $1 order by version", [ws])).rows;

  /** A change to a workspace's key rows made behind the store's back, and whether decrypting v1 data must then fail. */
  type Damage = { name: string; breaks: boolean; apply(ws: string, other: string): Promise<void> };
  const flipBit = (bit: number): Damage => ({
    name: `flip bit ${bit} of wrapped_key v1`,
    breaks: true,
    apply: async (ws) => {
      await pool().query("update tenancy_data_keys set wrapped_key = set_bit(wrapped_key, $2, 1 - get_bit(wrapped_key, $2)) where workspace_id = $1 and version = 1", [ws, bit]);
    },
  });
  const setWrapped = (name: string, bytes: Uint8Array, keep = false): Damage => ({
    name,
    breaks: !keep,
    apply: async (ws) => {
      await pool().query("update tenancy_data_keys set wrapped_key = $2 where workspace_id = $1 and version = 1", [ws, Buffer.from(bytes)]);
    },
  });
  const sql = (name: string, breaks: boolean, text: string, params: (ws: string, other: string) => unknown[] = (ws) => [ws]): Damage => ({
    name,
    breaks,
    apply: async (ws, other) => {
      await pool().query(text, params(ws, other));
    },
  });
  const damage: fc.Arbitrary<Damage> = fc.oneof(
    fc.nat({ max: 72 * 8 - 1 }).map(flipBit),
    fc.nat({ max: 71 }).map((n) => ({ name: `truncate wrapped_key v1 to ${n} bytes`, breaks: true, apply: async (ws: string) => void (await pool().query("update tenancy_data_keys set wrapped_key = substring(wrapped_key from 1 for $2) where workspace_id = $1 and version = 1", [ws, n])) })),
    fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => ({ name: `append ${extra.length} bytes to wrapped_key v1`, breaks: true, apply: async (ws: string) => void (await pool().query("update tenancy_data_keys set wrapped_key = wrapped_key || $2 where workspace_id = $1 and version = 1", [ws, Buffer.from(extra)])) })),
    fc.uint8Array({ maxLength: 100 }).map((b) => setWrapped(`replace wrapped_key v1 with ${b.length} random bytes`, b)),
    fc.constant(setWrapped("replace wrapped_key v1 with 72 zero bytes", new Uint8Array(72))),
    fc.oneof(fc.constantFrom("", "k2", "K1", "k1 ", "\u00e9", "x".repeat(300)), fc.string({ maxLength: 10, unit: "grapheme" }).filter((s) => s !== "k1" && storable(s))).map((id) =>
      sql(`root_key_id := ${JSON.stringify(id.slice(0, 20))}`, true, "update tenancy_data_keys set root_key_id = $2 where workspace_id = $1 and version = 1", (ws) => [ws, id]),
    ),
    fc.constant(sql("move v1 to v2", true, "update tenancy_data_keys set version = 2 where workspace_id = $1 and version = 1")),
    fc.constant(sql("swap in another workspace's wrapped key", true, "update tenancy_data_keys set wrapped_key = (select wrapped_key from tenancy_data_keys where workspace_id = $2 and version = 1) where workspace_id = $1 and version = 1", (ws, other) => [ws, other])),
    fc.constant(sql("copy v1 as v2 (bound to v1)", true, "insert into tenancy_data_keys (workspace_id, version, wrapped_key, root_key_id, state) select workspace_id, 2, wrapped_key, root_key_id, 'active' from tenancy_data_keys where workspace_id = $1 and version = 1")),
    fc.constant(sql("delete every row", true, "delete from tenancy_data_keys where workspace_id = $1")),
    fc.constant(sql("destroyed without a tombstone", true, "update tenancy_data_keys set state = 'destroyed', wrapped_key = null where workspace_id = $1")),
    fc.constant(sql("a tombstone without destroyed rows", true, "insert into tenancy_key_tombstones (workspace_id, destroyed_at, destroyed_by, versions_destroyed) values ($1, now(), 'x', 0)")),
    fc.constant(sql("v1 retired, no active key", false, "update tenancy_data_keys set state = 'retired' where workspace_id = $1")),
    fc.constantFrom("infinity", "-infinity", "0001-01-01 00:00:00+00", "294276-12-31 23:59:59+00").map((t) =>
      sql(`created_at/updated_at := ${t}`, false, "update tenancy_data_keys set created_at = $2::timestamptz, updated_at = $2::timestamptz where workspace_id = $1", (ws) => [ws, t]),
    ),
  );

  it("corrupt key rows (flipped, truncated, swapped, relabelled wrapped keys): decrypt is a typed Err, never a throw; the untouched rows still decrypt", async () => {
    const other = randomUUID();
    const base = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) });
    (await base.encrypt({ workspaceId: other, purpose: "secret:x", plaintext: "other" }))._unsafeUnwrap();
    await fc.assert(
      fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 2 }), fc.boolean(), async (damages, asText) => {
        const ws = randomUUID();
        const writer = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) });
        const sealed = (await writer.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
        const applied: Damage[] = [];
        for (const d of damages) {
          // One damage can rule out the next (a key moved away, a constraint): that one is skipped.
          try {
            await d.apply(ws, other);
            applied.push(d);
          } catch {}
        }
        const what = `decrypt after ${applied.map((d) => d.name).join(", ")}`;
        // A new process: nothing cached, every key read from the damaged rows.
        const reader = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) });
        const opened = await noThrow(what, () =>
          asText ? reader.decryptText({ workspaceId: ws, purpose: "secret:x", ciphertext: toText(sealed) }) : reader.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed }),
        );
        const breaks = applied.some((d) => d.breaks);
        if (breaks) expectTypedErr(opened, what, ["KeyUnavailable", "KeyNotFound", "KeyDestroyed", "AuthFailed", "StoreFailed"]);
        else {
          expect(opened.isOk(), `${what}: ${str(opened.isErr() ? opened.error : "")}`).toBe(true);
          const plain = opened._unsafeUnwrap();
          expect(typeof plain === "string" ? plain : Buffer.from(plain).toString()).toBe("hello");
        }
        // Writing with damaged keys: a typed Err or a sealed value, never a throw.
        const rows = JSON.stringify(await keyRows(ws));
        const sealedAgain = await noThrow(`encrypt: ${what}`, () => reader.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "again" }));
        if (sealedAgain.isErr()) {
          expectTypedErr(sealedAgain, `encrypt: ${what}`, ["KeyUnavailable", "KeyNotFound", "KeyDestroyed", "StoreFailed"]);
          expect(JSON.stringify(await keyRows(ws)), `encrypt: ${what}: an Err writes no key row`).toBe(rows);
        }
        // Another workspace's keys are not affected.
        const fine = await new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) }).encrypt({ workspaceId: W2, purpose: "secret:x", plaintext: "x" });
        expect(fine.isOk(), `${what}: another workspace still encrypts`).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("destroy with hostile `by` values: Err (no SQL error) and no tombstone, or a tombstone that records exactly the given value", async () => {
    const by = fc.oneof(pgText, unstorable, fc.constantFrom("", "x".repeat(201), "x".repeat(200), "é".repeat(200), "'); drop table tenancy_key_tombstones; --"), hugeString, nonString);
    await fc.assert(
      fc.asyncProperty(by, async (b) => {
        const ws = randomUUID();
        const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) });
        const sealed = (await cipher.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
        const what = `destroy(${str(typeof b === "string" && b.length > 100 ? `${b.length} chars` : b)})`;
        const bad = typeof b !== "string" || b.length === 0 || b.length > 200 || !storable(b);
        const destroyed = await noThrow(what, () => cipher.destroy({ workspaceId: ws, by: b as never }));
        expectErrIff(destroyed, bad, what);
        const tombstones = (await pool().query<{ destroyed_by: string }>("select destroyed_by from tenancy_key_tombstones where workspace_id = $1", [ws])).rows;
        if (destroyed.isErr()) {
          expect((destroyed.error as { type: string }).type, `${what}: refused before any SQL runs`).toBe("InvalidInput");
          expect(tombstones, `${what}: no tombstone`).toHaveLength(0);
          expect((await cipher.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed })).isOk(), `${what}: keys intact`).toBe(true);
        } else expect(tombstones.map((t) => t.destroyed_by), `${what}: the tombstone says who`).toEqual([b]);
      }),
      { numRuns: 40 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each reached an SQL error or wrote U+FFFD before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("crypto (postgres): destroy with a `by` holding U+0000 or a lone surrogate is InvalidInput and leaves the keys (was StoreFailed, or a tombstone saying U+FFFD)", async () => {
    const cipher = new TenantCipher({ rootKeys: ROOT_KEYS, store: postgresKeyStore(pool()) });
    for (const by of ["a\u0000b", "a\uD800b", "\uDC00"]) {
      const ws = randomUUID();
      const sealed = (await cipher.encrypt({ workspaceId: ws, purpose: "secret:x", plaintext: "hello" }))._unsafeUnwrap();
      expectTypedErr(await noThrow("destroy", () => cipher.destroy({ workspaceId: ws, by })), `destroy by ${JSON.stringify(by)}`, ["InvalidInput"]);
      expect((await pool().query("select 1 from tenancy_key_tombstones where workspace_id = $1", [ws])).rows).toHaveLength(0);
      expect((await cipher.decrypt({ workspaceId: ws, purpose: "secret:x", ciphertext: sealed })).isOk()).toBe(true);
    }
  });
});
