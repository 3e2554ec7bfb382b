import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/audit/canonical.js";

describe("canonical JSON (RFC 8785)", () => {
  it("sorts keys by UTF-16 code units (the RFC 8785 §3.2.3 example)", () => {
    const input = { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis", "</script>": "Browser Challenge" };
    const expected =
      '{"\\r":"Carriage Return","1":"One","</script>":"Browser Challenge","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
    expect(canonicalJson(input)._unsafeUnwrap()).toBe(expected);
  });

  it("serialises numbers in ECMAScript shortest form (RFC 8785 §3.2.2.3 / appendix B)", () => {
    const cases: [number, string][] = [
      [0, "0"], [-0, "0"], [1, "1"], [-1.5, "-1.5"], [1e21, "1e+21"], [1e20, "100000000000000000000"],
      [1e-7, "1e-7"], [0.000001, "0.000001"], [333333333.3333333, "333333333.3333333"],
      [Number.MAX_SAFE_INTEGER, "9007199254740991"], [5e-324, "5e-324"], [1.7976931348623157e308, "1.7976931348623157e+308"],
    ];
    for (const [n, text] of cases) expect(canonicalJson(n)._unsafeUnwrap()).toBe(text);
  });

  it("escapes strings as RFC 8785 requires and nothing more", () => {
    expect(canonicalJson("\u000f\n\"\\/\u007f€")._unsafeUnwrap()).toBe('"\\u000f\\n\\"\\\\/\u007f€"');
    expect(canonicalJson({ b: [1, { d: true, c: null }], a: "x" })._unsafeUnwrap()).toBe('{"a":"x","b":[1,{"c":null,"d":true}]}');
  });

  it("rejects what JSON cannot hold exactly, naming the path", () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const deep: unknown[] = [];
    let cursor = deep;
    for (let i = 0; i < 40; i++) cursor.push((cursor = []));
    const bad: [unknown, RegExp][] = [
      [{ a: Number.NaN }, /\$\.a is NaN/],
      [{ a: Number.POSITIVE_INFINITY }, /Infinity/],
      [{ a: undefined }, /undefined/],
      [{ a: new Date(0) }, /Date/],
      [{ a: 1n }, /bigint/],
      [{ a: () => 1 }, /function/],
      [{ a: "\ud800" }, /lone surrogate/],
      [circular, /circular/],
      [deep, /deeper/],
      [new Map(), /Map/],
    ];
    for (const [value, message] of bad) {
      const result = canonicalJson(value);
      expect(result.isErr()).toBe(true);
      expect(result._unsafeUnwrapErr()).toMatchObject({ type: "NotSerializable" });
      expect(result._unsafeUnwrapErr().message).toMatch(message);
    }
  });

  it("is a fixed point of parse: canonical(parse(canonical(x))) = canonical(x), and key order does not matter", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJson(value)._unsafeUnwrap();
        expect(canonicalJson(JSON.parse(once))._unsafeUnwrap()).toBe(once);
        if (value !== null && typeof value === "object" && !Array.isArray(value)) {
          const reversed = Object.fromEntries(Object.entries(value).reverse());
          expect(canonicalJson(reversed)._unsafeUnwrap()).toBe(once);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("event bodies are canonical", () => {
  it("prepareEvent's assembled body equals the canonical JSON of itself (any metadata, keys, optional fields)", async () => {
    const { prepareEvent, DEFAULT_LIMITS } = await import("../../../src/audit/validate.js");
    const { entryConsistent } = await import("../../../src/audit/verify-entry.js");
    const { systemClock } = await import("../../../src/core/clock.js");
    const { seededRandom } = await import("../../../src/core/random.js");
    const text = fc.string({ minLength: 1, maxLength: 20 });
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({
          metadata: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
          personal: optional(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }))),
          idempotencyKey: optional(text),
          display: optional(text),
          actorType: text,
          actorId: text,
          targets: fc.array(fc.record({ type: text, id: text }), { maxLength: 3 }),
          outcome: optional(fc.record({ status: fc.constantFrom("success", "failure"), reason: optional(text) })),
          requestId: optional(text),
          ip: optional(text),
        }),
        (e) => {
          const prepared = prepareEvent(
            {
              workspaceId: "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01",
              actor: { type: e.actorType, id: e.actorId, ...(e.display ? { display: e.display } : {}) },
              action: "journey.updated",
              metadata: e.metadata,
              targets: e.targets,
              ...(e.personal ? { personal: e.personal } : {}),
              ...(e.idempotencyKey ? { idempotencyKey: e.idempotencyKey } : {}),
              ...(e.outcome ? { outcome: e.outcome.reason ? e.outcome : { status: e.outcome.status } } : {}),
              context: { ...(e.requestId ? { requestId: e.requestId } : {}), ...(e.ip ? { ip: e.ip } : {}) },
            },
            DEFAULT_LIMITS,
            systemClock,
            seededRandom(1),
          );
          if (prepared.isErr()) return; // lone surrogates etc. are rejected, tested above
          const body = prepared.value.body;
          expect(canonicalJson(JSON.parse(body))._unsafeUnwrap()).toBe(body);
          // The commitments verify as stored, and the query columns agree with the body.
          const { workspaceId, idempotencyKey, personal, index } = prepared.value;
          const row = { workspaceId, seq: 1, recordedAtMs: 0, prevHash: new Uint8Array(32), hash: new Uint8Array(32), body, personal, idempotencyKey, index };
          expect(entryConsistent(row)).toBeUndefined();
          // The personal column's JSON, built while preparing, holds exactly the personal values and salts
          // as JSON holds them (JSON has no -0: it reads back as 0, as JSON.stringify writes it).
          expect(JSON.parse(prepared.value.personalJson ?? "null")).toEqual(JSON.parse(JSON.stringify(personal)));
        },
      ),
      { numRuns: 300 },
    );
  });
});
