import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/core/config.js";
import { generateRootKeyEntry, parseRootKeys, TenantCipher, tenantCipherFromEnv } from "../../../src/crypto/index.js";

const b64 = () => randomBytes(32).toString("base64");

describe("TENANCY_ROOT_KEYS", () => {
  it("parses id:base64 entries, primary first, standard or url-safe base64", () => {
    const url = randomBytes(32).toString("base64url");
    const keys = parseRootKeys(`k2026:${b64()}, k2025:${url}`)._unsafeUnwrap();
    expect(keys.map((k) => k.id)).toEqual(["k2026", "k2025"]);
    expect(keys.every((k) => k.key.length === 32)).toBe(true);
  });

  it("lists every problem at once without echoing key bytes", () => {
    const secret = randomBytes(16).toString("base64");
    const result = parseRootKeys(`nocolon,bad id:${b64()},short:${secret},dup:${b64()},dup:${b64()},zero:${Buffer.alloc(32).toString("base64")},junk:!!!`);
    const message = result._unsafeUnwrapErr().message;
    expect(result._unsafeUnwrapErr().type).toBe("InvalidRootKeys");
    for (const needle of ["entry 1", "entry 2", "16 bytes", "repeats id dup", "all zero", "not base64"]) expect(message).toContain(needle);
    expect(message).not.toContain(secret);
  });

  it("flows from loadConfig to tenantCipherFromEnv as Results; the constructor throws a TypeError on bad options", async () => {
    const config = loadConfig({ TENANCY_ROOT_KEYS: `main:${b64()}` })._unsafeUnwrap();
    const cipher = tenantCipherFromEnv(config.rootKeys)._unsafeUnwrap();
    expect(cipher.suite).toBe("xchacha20-poly1305");
    expect(tenantCipherFromEnv(undefined)._unsafeUnwrapErr().type).toBe("InvalidRootKeys");
    expect(tenantCipherFromEnv("x:y")._unsafeUnwrapErr().type).toBe("InvalidRootKeys");
    expect(() => new TenantCipher({ rootKeys: "x:y" })).toThrow(TypeError);
    expect(() => new TenantCipher({})).toThrow(/rootKeys/);
    expect(() => new TenantCipher({ rootKeys: `a:${b64()}`, suite: "rot13" as "xaes-256-gcm" })).toThrow(/suite/);
  });

  it("generateRootKeyEntry (the `tenancykit root-key` command) makes entries that parse, with fresh bytes each time", () => {
    const a = generateRootKeyEntry("prod-1");
    const b = generateRootKeyEntry("prod-1");
    const parsed = parseRootKeys(`${a},${generateRootKeyEntry()}`)._unsafeUnwrap();
    expect(parsed[0]?.id).toBe("prod-1");
    expect(parsed[1]?.id).toMatch(/^k\d{8}$/);
    expect(a).not.toBe(b);
    expect(() => generateRootKeyEntry("bad id")).toThrow(TypeError);
  });
});
