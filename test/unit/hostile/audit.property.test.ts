import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { AuditLogger, MemoryAuditStore } from "../../../src/audit/index.js";
import { ManualClock, seededRandom } from "../../../src/core/index.js";
import { actionName, eventDate, LAST_DATE, tagger } from "./audit-ops.js";
import { badId, cyclic, expectErrIff, expectTypedErr, fresh, nonString, nonStringDefined, noProto, noThrow, str, throwingGetter, throwingProxy, W } from "./hostile-values.js";

function nested(depth: number): object {
  let o: object = { leaf: 1 };
  for (let i = 0; i < depth; i++) o = { a: o };
  return o;
}

const tagged = tagger(5);

const text = fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" });
/** A text field the docs refuse: empty, over 512, a lone surrogate, U+0000, or not a string. */
const badText = fc.oneof(fc.constantFrom("", "x".repeat(513), "a\uD800b", "\uDC00", "a\u0000b"), nonStringDefined);
const badJsonObject = fc.oneof(
  fresh(cyclic),
  fresh(() => ({ nested: { list: [1, cyclic()] } })),
  fc.bigInt().map((n) => ({ n })),
  fc.constant({ f: () => 1 }),
  fc.constant({ toJSON: () => { throw new Error("toJSON"); } }),
  fc.string({ maxLength: 4 }).map((s) => ({ s: Symbol(s) })),
  fc.constant({ u: undefined }),
  fc.constant({ list: [1, , 3] }),
  fc.constantFrom(NaN, Infinity, -Infinity).map((n) => ({ n })),
  fc.constant({ d: new Date(0) }),
  fc.constant({ m: new Map([[1, 2]]) }),
  fc.constant({ c: new (class Point { x = 1; })() }),
  fresh(throwingGetter),
  fresh(() => ({ inner: throwingGetter() })),
  fresh(throwingProxy),
  fresh(() => ({ inner: [throwingProxy()] })),
  fresh(() => ({ big: "x".repeat(17_000) })),
  fresh(() => nested(40)),
  fc.constantFrom({ s: "a\uDC00" }, { "\uD800": 1 }),
  fc.constantFrom(null, "text", 5, true, [1, 2]),
  nonStringDefined.filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
);

const auditEvent = fc.record({
  workspaceId: tagged(fc.constant(W), badId, 1),
  actor: tagged(
    fc.record({ type: text, id: text, display: text }, { requiredKeys: ["type", "id"] }),
    fc.oneof(
      fc.constantFrom(null, undefined, "member", 5, [], {}),
      fc.record({ type: badText, id: text }),
      fc.record({ type: text, id: badText }),
      fc.record({ type: text, id: text, display: badText }),
      fc.record({ id: text }),
      nonStringDefined.filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
    ),
  ),
  action: tagged(
    actionName,
    fc.oneof(fc.constantFrom("", "journey", "Journey.updated", "journey.", ".x", "journey..x", "journey.updated\n", `a.${"b".repeat(130)}`), nonString),
  ),
  targets: tagged(
    fc.option(fc.array(fc.record({ type: text, id: text }), { maxLength: 3 }), { nil: undefined }),
    fc.oneof(
      fc.constantFrom(null, "journey", 5, { type: "journey", id: "j" }),
      fc.array(fc.record({ type: text, id: text }), { minLength: 33, maxLength: 33 }),
      fc.tuple(fc.record({ type: text, id: text }), fc.oneof(fc.constantFrom(null, 5, "x", {}), fc.record({ type: badText, id: text }), fc.record({ type: text, id: badText }))).map((t) => [...t]),
    ),
  ),
  outcome: tagged(
    fc.oneof(fc.constant(undefined), fc.constant({ status: "success" }), fc.record({ status: fc.constant("failure"), reason: text })),
    fc.oneof(fc.constantFrom(null, "success", 5, {}, { status: "ok" }), fc.record({ status: fc.constant("failure"), reason: badText })),
  ),
  context: tagged(
    fc.option(fc.record({ requestId: text, ip: text, userAgent: text }, { requiredKeys: [] }), { nil: undefined }),
    fc.oneof(fc.constantFrom(null, "ctx", 5, [1]), fc.record({ ip: badText }), fc.record({ requestId: badText }), fc.record({ userAgent: badText })),
  ),
  metadata: tagged(fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), { nil: undefined }), badJsonObject, 2),
  personal: tagged(
    fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(text, fc.integer(), fc.boolean()), { maxKeys: 3 }), { nil: undefined }),
    fc.oneof(badJsonObject, fc.constant({ email: "a\u0000b" })),
  ),
  occurredAt: tagged(
    fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 0, max: LAST_DATE }),
      fc.double({ min: 0, max: 1e12, noNaN: true }),
      eventDate,
      eventDate.map((d) => d.toISOString()),
    ),
    fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, -1, 253_402_300_800_000, "garbage", "", "2020-13-45T00:00:00Z", new Date(NaN)), nonStringDefined.filter((v) => typeof v !== "number" && !(v instanceof Date))),
  ),
  idempotencyKey: tagged(fc.constantFrom(undefined, "unique"), badText),
});

describe("AuditLogger (memory store)", () => {
  it("events with hostile fields: Err exactly for bad input; after an Err the chain verifies with the same entries", async () => {
    let unique = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(auditEvent, { minLength: 1, maxLength: 4 }), async (events) => {
        const store = new MemoryAuditStore();
        const audit = new AuditLogger({ store, clock: new ManualClock(), random: seededRandom(7), batch: { lingerMs: 0 } });
        const report = async () => (await audit.verify({ workspaceId: W }))._unsafeUnwrap();
        await audit.append({ workspaceId: W, actor: { type: "member", id: "m1" }, action: "journey.updated" });
        for (const fields of events) {
          const event: Record<string, unknown> = {};
          let bad = false;
          for (const [name, { v, bad: isBad }] of Object.entries(fields)) {
            bad ||= isBad;
            // A good idempotency key is unique, so a good event always adds an entry.
            event[name] = name === "idempotencyKey" && v === "unique" ? `key-${unique++}` : v;
          }
          const what = `append(${str(event)})`;
          const before = await report();
          const appended = await noThrow(what, () => audit.append(event as never));
          expectErrIff(appended, bad, what);
          const after = await report();
          expect(after.ok, `${what}: the chain verifies`).toBe(true);
          expect(after.entries, `${what}: entries`).toBe(before.entries + (appended.isOk() ? 1 : 0));
        }
        await audit.close();
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("audit: metadata whose reading throws (a getter, a Proxy) is NotSerializable and writes nothing (append rejected)", async () => {
    const audit = new AuditLogger({ clock: new ManualClock(), random: seededRandom(1), batch: { lingerMs: 0 } });
    for (const metadata of [throwingGetter(), { inner: [throwingProxy()] }, throwingProxy()]) {
      const appended = await noThrow("append", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", metadata: metadata as never }));
      expectTypedErr(appended, "append", ["NotSerializable"]);
    }
    expectTypedErr(await noThrow("personal", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", personal: { inner: throwingGetter() } as never })), "personal", ["NotSerializable"]);
    expect((await audit.verify({ workspaceId: W }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 0 });
    for (const [what, call] of [
      ["verify(null)", () => audit.verify(null as never)],
      ["query(undefined)", () => audit.query(undefined as never)],
      ["checkpoint(null)", () => audit.checkpoint(null as never)],
      ["prune(null)", () => audit.prune(null as never)],
    ] as [string, () => unknown][]) {
      expectTypedErr((await noThrow(what, call)) as Result<unknown, unknown>, what, ["InvalidInput"]);
    }
    await audit.close();
  });

  it("audit: filters, cursors, seqs, dates and actors that cannot be read are InvalidInput or InvalidAuditEvent (they rejected)", async () => {
    const audit = new AuditLogger({ clock: new ManualClock(), random: seededRandom(1), batch: { lingerMs: 0 } });
    const fakeDate = Object.create(Date.prototype) as Date;
    for (const [what, call, types] of [
      ["query cursor", () => audit.query({ workspaceId: W, cursor: noProto() }), ["InvalidInput"]],
      ["query target", () => audit.query({ workspaceId: W, target: { type: Symbol("t") as never, id: "1" } }), ["InvalidInput"]],
      ["query since", () => audit.query({ workspaceId: W, since: fakeDate }), ["InvalidInput"]],
      ["erase seqs", () => audit.erase({ workspaceId: W, seqs: 5 as never }), ["InvalidInput"]],
      ["append actor", () => audit.append({ workspaceId: W, actor: throwingProxy() as never, action: "journey.updated" }), ["InvalidAuditEvent"]],
      ["append occurredAt", () => audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "journey.updated", occurredAt: fakeDate }), ["InvalidAuditEvent"]],
    ] as [string, () => unknown, string[]][]) {
      expectTypedErr((await noThrow(what, call)) as Result<unknown, unknown>, what, types);
    }
    expect((await audit.verify({ workspaceId: W }))._unsafeUnwrap()).toMatchObject({ ok: true, entries: 0 });
    await audit.close();
  });
});
