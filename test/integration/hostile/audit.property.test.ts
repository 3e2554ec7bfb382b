import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { AuditLogger } from "../../../src/audit/index.js";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { seededRandom } from "../../../src/core/index.js";
import { actionName, eventDate, LAST_DATE, tagger } from "../../unit/hostile/audit-ops.js";
import { badId, cyclic, expectErrIff, expectTypedErr, fresh, nonString, nonStringDefined, noThrow, str, throwingGetter, throwingProxy, type Tagged } from "../../unit/hostile/hostile-values.js";
import { filePostgres, pgText, unstorable } from "./stores.js";

/** AuditLogger on PostgresAuditStore with hostile events, filters and erase matches (see stores.ts). */

const pool = filePostgres("tk_hostile_audit", migrateAuditTables);

const tagged = tagger(9);

const badText = fc.oneof(fc.constantFrom("", "x".repeat(513)), unstorable, nonStringDefined);
const badJsonObject = fc.oneof(
  fresh(cyclic),
  fc.bigInt().map((n) => ({ n })),
  fc.constant({ f: () => 1 }),
  fc.constant({ toJSON: () => { throw new Error("toJSON"); } }),
  fc.constant({ u: undefined }),
  fc.constantFrom(NaN, Infinity).map((n) => ({ n })),
  fc.constant({ d: new Date(0) }),
  fresh(throwingGetter),
  fresh(throwingProxy),
  fresh(() => ({ big: "x".repeat(17_000) })),
  fc.constantFrom({ s: "a\uDC00" }, { "\uD800": 1 }, { k: ["\uDBFF"] }),
  fc.constantFrom(null, "text", 5, [1, 2]),
);
/** Metadata lives only in the text body, where JSON escapes U+0000: any well-formed JSON is fine. */
const goodMetadata = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 8, unit: "grapheme" }), fc.jsonValue({ maxDepth: 2, stringUnit: "grapheme" }), { maxKeys: 4 }),
  fc.constantFrom({ nul: "a\u0000b" }, { "\u0000": 1 }, { sql: "'); --" }, { deep: { a: [{ b: "\u{1F600}" }] } }),
);

const auditEvent = fc.record({
  workspaceId: tagged(fc.constant("run"), badId),
  actor: tagged(
    fc.record({ type: pgText, id: fc.oneof(fc.constantFrom("m1", "m2"), pgText), display: pgText }, { requiredKeys: ["type", "id"] }),
    fc.oneof(
      fc.constantFrom(null, undefined, "member", 5, [], {}),
      fc.record({ type: badText, id: pgText }),
      fc.record({ type: pgText, id: badText }),
      fc.record({ type: pgText, id: pgText, display: badText }),
    ),
  ),
  action: tagged(
    actionName,
    fc.oneof(fc.constantFrom("", "journey", "Journey.updated", "journey.updated\u0000", "journey.updated\n", `a.${"b".repeat(130)}`), nonString),
  ),
  targets: tagged(
    fc.option(fc.array(fc.record({ type: pgText, id: pgText }), { maxLength: 3 }), { nil: undefined }),
    fc.oneof(
      fc.constantFrom(null, "journey", { type: "journey", id: "j" }),
      fc.tuple(fc.record({ type: pgText, id: pgText }), fc.oneof(fc.record({ type: badText, id: pgText }), fc.record({ type: pgText, id: badText }))).map((t) => [...t]),
    ),
  ),
  outcome: tagged(
    fc.oneof(fc.constant(undefined), fc.constant({ status: "success" }), fc.record({ status: fc.constant("failure"), reason: pgText })),
    fc.oneof(fc.constantFrom(null, "success", {}), fc.record({ status: fc.constant("failure"), reason: badText })),
  ),
  context: tagged(
    fc.option(fc.record({ requestId: pgText, ip: pgText, userAgent: pgText }, { requiredKeys: [] }), { nil: undefined }),
    fc.oneof(fc.constantFrom(null, "ctx"), fc.record({ ip: badText }), fc.record({ requestId: badText }), fc.record({ userAgent: badText })),
  ),
  metadata: tagged(fc.option(goodMetadata, { nil: undefined }), badJsonObject, 2),
  personal: tagged(
    fc.option(fc.dictionary(fc.string({ maxLength: 8, unit: "grapheme" }), fc.oneof(pgText, fc.integer(), fc.boolean()), { maxKeys: 3 }), { nil: undefined }),
    fc.oneof(badJsonObject, fc.constantFrom({ email: "a\u0000b" }, { "\u0000": "x" }, { list: ["\u0000"] })),
  ),
  occurredAt: tagged(
    fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 0, max: LAST_DATE }),
      eventDate,
      eventDate.map((d) => d.toISOString()),
    ),
    fc.oneof(fc.constantFrom(NaN, -1, 253_402_300_800_000, 8.64e15, "garbage", "+275760-09-13T00:00:00.000Z", new Date(NaN)), nonStringDefined.filter((v) => typeof v !== "number" && !(v instanceof Date))),
  ),
  idempotencyKey: tagged(fc.constant("unique"), badText),
});

/** A filter value: a string (which may be one no entry can hold), or something that is no string. */
const filterText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("m1", "member", "journey.updated").map((v) => ({ v, bad: false })) },
  { weight: 2, arbitrary: pgText.map((v) => ({ v, bad: false })) },
  { weight: 2, arbitrary: unstorable.map((v) => ({ v, bad: true })) },
  { weight: 2, arbitrary: nonStringDefined.map((v) => ({ v, bad: true })) },
);
/** MIN/MAX of a JavaScript Date (ms); beyond them a number is no date. */
const DATE_LIMIT = 8.64e15;
const timeFilter = fc.oneof(
  { weight: 3, arbitrary: eventDate.map((v) => ({ v: v as unknown, bad: false })) },
  // Valid dates Postgres writes differently (years before 1 or after 9999), and the extremes.
  { weight: 2, arbitrary: fc.constantFrom(-62_198_755_200_000, -1e14, 253_402_300_800_000, 1e15, DATE_LIMIT, -DATE_LIMIT, -1, 0).map((v) => ({ v: v as unknown, bad: false })) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, DATE_LIMIT + 1, Number.MAX_SAFE_INTEGER, 1e20, -1e20, new Date(NaN), "2020-01-01").map((v) => ({ v: v as unknown, bad: true })) },
);
const queryFilters = fc.record(
  { actorType: filterText, actorId: filterText, action: filterText, targetType: filterText, targetId: filterText, since: timeFilter, until: timeFilter },
  { requiredKeys: [] },
);
const eraseMatch = fc.record({ seqs: fc.option(fc.oneof(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 3 }).map((v) => ({ v: v as unknown, bad: false })), fc.constantFrom([0], [1.5], ["1"], 5, [2 ** 53]).map((v) => ({ v: v as unknown, bad: true }))), { nil: undefined }), actorId: fc.option(filterText, { nil: undefined }) });

type AuditOp = { op: "append"; fields: Record<string, Tagged> } | { op: "query"; filters: Partial<Record<string, Tagged>> } | { op: "erase"; match: { seqs?: Tagged | undefined; actorId?: Tagged | undefined } };
const auditOp: fc.Arbitrary<AuditOp> = fc.oneof(
  { weight: 4, arbitrary: auditEvent.map((fields) => ({ op: "append" as const, fields })) },
  { weight: 2, arbitrary: queryFilters.map((filters) => ({ op: "query" as const, filters })) },
  { weight: 1, arbitrary: eraseMatch.map((match) => ({ op: "erase" as const, match })) },
);

describe("AuditLogger on PostgresAuditStore (real Postgres)", () => {
  let unique = 0;
  it("hostile events, filters and erase matches: Err exactly for bad input, never an SQL error; an Err writes no row; the chain verifies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(auditOp, { minLength: 1, maxLength: 6 }), async (ops) => {
        const ws = randomUUID();
        const audit = new AuditLogger({ store: postgresAuditStore(pool())._unsafeUnwrap(), random: seededRandom(7), batch: { lingerMs: 0 } });
        const rows = async () =>
          JSON.stringify(
            (
              await pool().query(
                `select (select count(*) from audit_entry where workspace_id = $1)::int as entries,
                        (select count(*) from audit_idempotency where workspace_id = $1)::int as keys,
                        (select coalesce(max(seq), 0) from audit_head where workspace_id = $1)::int as head,
                        (select coalesce(json_agg(personal order by seq), '[]') from audit_entry where workspace_id = $1) as personal`,
                [ws],
              )
            ).rows[0],
          );
        let appended = 0;
        try {
          (await audit.append({ workspaceId: ws, actor: { type: "member", id: "m1" }, action: "journey.updated", personal: { email: "a@b.c" } }))._unsafeUnwrap();
          appended++;
          expect(await rows(), "the snapshot holds the first entry").toContain('"entries":1');
          for (const op of ops) {
            const before = await rows();
            let result: Result<unknown, unknown>;
            let bad = false;
            let what: string;
            if (op.op === "append") {
              const event: Record<string, unknown> = {};
              for (const [name, { v, bad: isBad }] of Object.entries(op.fields)) {
                bad ||= isBad;
                event[name] = name === "workspaceId" && v === "run" ? ws : name === "idempotencyKey" && v === "unique" ? `key-${unique++}-é` : v;
              }
              what = `append(${str(event)})`;
              result = await noThrow(what, () => audit.append(event as never));
              if (result.isOk()) appended++;
            } else if (op.op === "query") {
              const f = op.filters;
              for (const tag of Object.values(f)) bad ||= tag!.bad;
              const query = {
                workspaceId: ws,
                ...(f.actorType || f.actorId ? { actor: { ...(f.actorType ? { type: f.actorType.v } : {}), ...(f.actorId ? { id: f.actorId.v } : {}) } } : {}),
                ...(f.action ? { action: f.action.v } : {}),
                ...(f.targetType || f.targetId ? { target: { type: f.targetType?.v ?? "journey", id: f.targetId?.v ?? "j" } } : {}),
                ...(f.since ? { since: f.since.v } : {}),
                ...(f.until ? { until: f.until.v } : {}),
              };
              what = `query(${str(query)})`;
              result = await noThrow(what, () => audit.query(query as never));
            } else {
              const { seqs, actorId } = op.match;
              bad = (seqs === undefined && actorId === undefined) || seqs?.bad === true || actorId?.bad === true;
              const match = { workspaceId: ws, ...(seqs ? { seqs: seqs.v } : {}), ...(actorId ? { actorId: actorId.v } : {}) };
              what = `erase(${str(match)})`;
              result = await noThrow(what, () => audit.erase(match as never));
            }
            expectErrIff(result, bad, what);
            if (result.isErr()) {
              expect((result.error as { type: string }).type, `${what}: bad input is refused before any SQL runs`).not.toMatch(/^Store/);
              expect(await rows(), `${what} must write nothing`).toBe(before);
            }
          }
          const report = (await audit.verify({ workspaceId: ws }))._unsafeUnwrap();
          expect(report.ok, "the chain verifies").toBe(true);
          expect(report.entries, "one entry per Ok append").toBe(appended);
        } finally {
          await audit.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each reached an SQL error, answered Ok or erased data before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("audit (postgres): filters no entry can hold are InvalidInput, not an SQL error or a U+FFFD match", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool())._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "a\uFFFDb" }, action: "journey.updated", targets: [{ type: "j", id: "\uFFFD" }] }))._unsafeUnwrap();
      for (const query of [
        { actor: { id: "a\u0000b" } }, // was StoreFailed (SQLSTATE 22021)
        { actor: { type: "\u0000" } },
        { action: "journey.updated\u0000" },
        { target: { type: "j", id: "\u0000" } }, // was StoreFailed (SQLSTATE 22P05)
        { actor: { id: "a\uD800b" } }, // was Ok with the entry of actor "a\uFFFDb"
        { target: { type: "j", id: "\uDC00" } },
      ]) {
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, ...query } as never)), `query ${str(query)}`, ["InvalidInput"]);
      }
    } finally {
      await audit.close();
    }
  });

  it("audit (postgres): since/until beyond a Date's range are InvalidInput; valid dates Postgres cannot parse (years before 1, after 9999) filter correctly", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool())._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "m" }, action: "journey.updated", occurredAt: Date.UTC(2020, 0, 1) }))._unsafeUnwrap();
      for (const since of [Number.MAX_SAFE_INTEGER, 1e20, -1e20, 8.64e15 + 1]) {
        // was StoreFailed ("RangeError: Invalid time value" from toISOString)
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, since })), `since ${since}`, ["InvalidInput"]);
        expectTypedErr(await noThrow("query", () => audit.query({ workspaceId: ws, until: since })), `until ${since}`, ["InvalidInput"]);
      }
      // Each was StoreFailed (SQLSTATE 22007, 22008 or 22009: "-000001-01-01T…", "+010000-01-01T…").
      const count = async (filter: { since?: number; until?: number }) => (await noThrow("query", () => audit.query({ workspaceId: ws, ...filter })))._unsafeUnwrap().entries.length;
      expect(await count({ since: -62_198_755_200_000 })).toBe(1);
      expect(await count({ since: -8.64e15 })).toBe(1);
      expect(await count({ until: -62_135_596_800_001 })).toBe(0);
      expect(await count({ since: 253_402_300_800_000 })).toBe(0);
      expect(await count({ until: 8.64e15 })).toBe(1);
      expect(await count({ since: Date.UTC(2019, 0, 1), until: 1e15 })).toBe(1);
    } finally {
      await audit.close();
    }
  });

  it("audit (postgres): erase with an actorId that is no clean string is InvalidInput (5 erased actor \"5\"'s personal data)", async () => {
    const audit = new AuditLogger({ store: postgresAuditStore(pool())._unsafeUnwrap(), batch: { lingerMs: 0 } });
    const ws = randomUUID();
    try {
      (await audit.append({ workspaceId: ws, actor: { type: "member", id: "5" }, action: "journey.updated", personal: { email: "x@y.z" } }))._unsafeUnwrap();
      for (const actorId of [5, ["5"], { toString: () => "5" }, "a\u0000b", "\uD800"]) {
        expectTypedErr(await noThrow("erase", () => audit.erase({ workspaceId: ws, actorId: actorId as never })), `erase ${str(actorId)}`, ["InvalidInput"]);
      }
      const personal = await pool().query("select personal from audit_entry where workspace_id = $1", [ws]);
      expect(personal.rows[0].personal, "personal data still there").not.toBeNull();
    } finally {
      await audit.close();
    }
  });
});
