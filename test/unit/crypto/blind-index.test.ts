import { describe, expect, it } from "vitest";
import { makeCipher, newWorkspace, okValue } from "./helpers.js";

describe("blind index", () => {
  it("is deterministic per workspace and purpose, unrelated across them, and truncates as configured", async () => {
    const { cipher } = makeCipher();
    const [w1, w2] = [newWorkspace(), newWorkspace()];
    const email = "ada@example.com";
    const a = okValue(await cipher.blindIndex({ workspaceId: w1, purpose: "user.email", value: email }));
    expect(okValue(await cipher.blindIndex({ workspaceId: w1, purpose: "user.email", value: email }))).toBe(a);
    expect(Buffer.from(a, "base64url")).toHaveLength(16);
    const otherWorkspace = okValue(await cipher.blindIndex({ workspaceId: w2, purpose: "user.email", value: email }));
    const otherPurpose = okValue(await cipher.blindIndex({ workspaceId: w1, purpose: "user.phone", value: email }));
    const otherValue = okValue(await cipher.blindIndex({ workspaceId: w1, purpose: "user.email", value: "bob@example.com" }));
    expect(new Set([a, otherWorkspace, otherPurpose, otherValue]).size).toBe(4);
    const short = okValue(await cipher.blindIndex({ workspaceId: w1, purpose: "user.email", value: email, bits: 32 }));
    expect(Buffer.from(short, "base64url")).toHaveLength(4);
    expect(Buffer.from(a, "base64url").subarray(0, 4).equals(Buffer.from(short, "base64url"))).toBe(true);
  });

  it("stays the same across a rotation (derived from key version 1) and survives a cache reload", async () => {
    const { cipher, clock } = makeCipher({ cache: { maxAgeMs: 10 } });
    const workspaceId = newWorkspace();
    const before = okValue(await cipher.blindIndex({ workspaceId, purpose: "user.email", value: "x" }));
    okValue(await cipher.rotate({ workspaceId }));
    clock.advance(11);
    expect(okValue(await cipher.blindIndex({ workspaceId, purpose: "user.email", value: "x" }))).toBe(before);
    const v2 = okValue(await cipher.blindIndex({ workspaceId, purpose: "user.email", value: "x", keyVersion: 2 }));
    expect(v2).not.toBe(before);
  });
});
