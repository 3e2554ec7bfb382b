import fc from "fast-check";
import { validate as uuidValidate } from "uuid";
import { describe, expect, it } from "vitest";
import { isWorkspaceId, parseWorkspaceId } from "../../../src/core/workspace-id.js";

describe("parseWorkspaceId", () => {
  it("accepts every UUID version and normalises to lower case", () => {
    fc.assert(
      fc.property(fc.uuid({ version: [1, 2, 3, 4, 5, 6, 7, 8] }), fc.boolean(), (uuid, upper) => {
        const input = upper ? uuid.toUpperCase() : uuid;
        const parsed = parseWorkspaceId(input);
        expect(parsed.isOk()).toBe(true);
        expect(parsed._unsafeUnwrap()).toBe(uuid.toLowerCase());
      }),
      { numRuns: 2_000 },
    );
  });

  it("agrees with uuid.validate (Dittofeed's check) on uuid-shaped and arbitrary strings", () => {
    const hexish = fc.stringMatching(/^[0-9a-gA-G-]{30,40}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), hexish, fc.uuid().map((u) => u.replace(/-/g, ""))), (input) => {
        // uuid.validate only accepts versions 1-8 plus nil/max; ours accepts any 8-4-4-4-12 hex, so compare on its domain.
        if (uuidValidate(input)) expect(parseWorkspaceId(input).isOk()).toBe(true);
        if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(input)) {
          expect(parseWorkspaceId(input).isErr()).toBe(true);
        }
      }),
      { numRuns: 5_000 },
    );
  });

  it.each([
    ["empty", ""],
    ["leading space", " 8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01"],
    ["trailing newline", "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01\n"],
    ["no hyphens", "8f14e45fceea4e7a9d1b1a2b3c4d5e01"],
    ["braces", "{8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e}"],
    ["non-hex", "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e0z"],
    ["non-ascii", "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e0é"],
    ["sql", "workspace-1'; DROP TABLE \"Workspace\"--"],
  ])("rejects %s with a typed error", (_name, input) => {
    const parsed = parseWorkspaceId(input);
    expect(parsed.isErr()).toBe(true);
    expect(parsed._unsafeUnwrapErr()).toMatchObject({ type: "InvalidWorkspaceId", retryable: false });
    expect(parsed._unsafeUnwrapErr().message).toMatch(/workspace id/);
  });

  it("names the problem for whitespace and emptiness", () => {
    expect(parseWorkspaceId("")._unsafeUnwrapErr().message).toMatch(/empty/);
    expect(parseWorkspaceId(" 8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e0 ")._unsafeUnwrapErr().message).toMatch(/whitespace/);
  });

  it("rejects non-strings without throwing", () => {
    fc.assert(
      fc.property(fc.anything().filter((v) => typeof v !== "string"), (input) => {
        const parsed = parseWorkspaceId(input);
        expect(parsed._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
      }),
    );
    expect(parseWorkspaceId(null)._unsafeUnwrapErr().message).toMatch(/null/);
  });

  it("isWorkspaceId is true only for normalised ids", () => {
    expect(isWorkspaceId("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01")).toBe(true);
    expect(isWorkspaceId("8F14E45F-CEEA-4E7A-9D1B-1A2B3C4D5E01")).toBe(false);
    expect(isWorkspaceId(42)).toBe(false);
  });
});

describe("parseWorkspaceId's memo of recent ids", () => {
  it("stays correct past its size limit and across case variants", () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`);
    for (const round of [0, 1]) {
      for (const id of ids) {
        const input = round === 0 ? id : id.toUpperCase();
        expect(parseWorkspaceId(input)._unsafeUnwrap()).toBe(id);
      }
    }
    // A rejected id is never remembered as valid.
    expect(parseWorkspaceId(" 00000000-0000-4000-8000-000000000001").isErr()).toBe(true);
  });
});
