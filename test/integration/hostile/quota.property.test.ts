import { randomUUID } from "node:crypto";
import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { QuotaGuard } from "../../../src/quota/index.js";
import { PostgresQuotaStore } from "../../../src/quota/stores/postgres.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import { expectErrIff, expectTypedErr, hostile, idLike, noThrow, PLAN } from "../../unit/hostile/hostile-values.js";
import { applyQuotaOp, LIMIT_NAMES, quotaArbitraries, type DecideMode, type LimitName, type QuotaOp } from "../../unit/hostile/quota-ops.js";
import { filePostgres, fileRedis, redisState, unstorable } from "./stores.js";

/** QuotaGuard on RedisQuotaStore and PostgresQuotaStore with hostile input (see stores.ts). */

const redis = fileRedis();
const pool = filePostgres("tk_hostile_quota", (db) => new PostgresQuotaStore({ db }).migrate());

/** Reservation ids a forger might try: the server sees them as strings (a hash field, a sorted-set member). */
const forgedId = fc.oneof(
  idLike,
  unstorable,
  fc.constantFrom("", " ", "h:", "*", "\r\n", "x".repeat(70_000)),
  fc.string({ unit: "binary", maxLength: 20 }),
);

/** The unit suite's inputs, with names and ids the servers store (or cannot store) and edge values they compute with. */
const { decideOp, settleOp, reconcileOp } = quotaArbitraries({
  oddNames: ["__proto__", "constructor", "", "calls ", "CALLS", "calls\u0000", "calls/x", "items:holds", "state", "x#g"],
  nameText: fc.oneof(fc.string({ maxLength: 70 }), unstorable),
  oddCosts: [NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 1e-300, 2 ** 53, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER],
  costStrings: ["1", " 1", "1e3", "0x2"],
  idChanges: [
    fc.record({ field: fc.constant("id" as const), value: fc.oneof(forgedId, hostile) }),
    fc.record({ field: fc.constant("workspaceId" as const), value: fc.oneof(hostile, idLike) }),
  ],
  oddActuals: [-1, 0.5, NaN, Infinity, 2 ** 53, 2 ** 47, Number.MAX_SAFE_INTEGER, "3"],
});

type StoreOp = QuotaOp | { op: "corrupt"; limit: LimitName; state: string };

const quotaOp: fc.Arbitrary<StoreOp> = fc.oneof(
  {
    // Valid calls over several limits (one transaction or script over several keys, some not stored yet).
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("decide" as const),
      mode: fc.constantFrom<DecideMode>("consume", "check", "reserve"),
      handle: fc.constant(false),
      request: fc.shuffledSubarray(LIMIT_NAMES, { minLength: 2 }).map((names) => ({ limits: names.map((limit) => ({ limit })) })),
    }),
  },
  { weight: 5, arbitrary: decideOp },
  { weight: 3, arbitrary: settleOp },
  { weight: 2, arbitrary: reconcileOp },
);

/** Stored state the Postgres store must refuse (not numbers where numbers belong), whatever the limit's kind. */
const corruptState = fc.constantFrom('"garbage"', "[]", "42", "true", '{"tat":"1","end":"x","used":"lots","holds":{}}', '{"used":1,"holds":[[1,2,3]]}', '{"tat":null,"used":null}', '{"window":1,"size":"x"}');
const corruptOp: fc.Arbitrary<StoreOp> = fc.record({ op: fc.constant("corrupt" as const), limit: fc.constantFrom(...LIMIT_NAMES), state: corruptState });

interface QuotaHarness {
  readonly guard: QuotaGuard;
  /** The store's state for the run's workspace, read from the server. */
  snapshot(): Promise<string>;
  /** Writes stored state the store must refuse (Postgres only). */
  corrupt?(limit: LimitName, state: string): Promise<void>;
}

/**
 * One run: a workspace with some usage and a live reservation, then hostile
 * calls. Each is an Err exactly when its input is bad, and an Err leaves the
 * server's state exactly as it was. `corrupted` (Postgres): a valid call that
 * reads corrupt state may be a StoreFailed Err, which must write nothing either.
 */
async function runQuotaOps(ws: string, h: QuotaHarness, ops: readonly StoreOp[]): Promise<void> {
  const { guard } = h;
  (await guard.consume({ workspaceId: ws, limit: "calls", cost: 3 }))._unsafeUnwrap();
  const reserved = (await guard.reserve({ workspaceId: ws, limits: [{ limit: "items", cost: 2 }, { limit: "slots" }] }))._unsafeUnwrap().reservation!;
  const handle = guard.workspace(ws)._unsafeUnwrap();
  // The snapshot sees the run's own state (so "unchanged" is about something).
  expect(await h.snapshot(), "the snapshot holds the usage just written").toMatch(/calls|state/);
  let corrupted = false;
  for (const op of ops) {
    if (op.op === "corrupt") {
      await h.corrupt!(op.limit, op.state);
      corrupted = true;
      continue;
    }
    const before = await h.snapshot();
    const { what, bad, result } = await applyQuotaOp({ guard, handle, workspaceId: ws, reserved }, op);
    if (!bad && corrupted && result.isErr()) expectTypedErr(result, `${what} (after stored state was corrupted)`, ["StoreFailed"]);
    else expectErrIff(result, bad, what);
    if (bad) expect((result as Result<unknown, { type: string }>)._unsafeUnwrapErr().type, `${what}: refused before the store`).not.toMatch(/^Store/);
    if (result.isErr()) expect(await h.snapshot(), `${what} must write nothing`).toBe(before);
  }
}

describe("QuotaGuard on RedisQuotaStore (real Redis)", () => {
  it("hostile costs, names, reservations and reconcile values: Err exactly for bad input; an Err leaves every key of the family as it was (DUMP)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(quotaOp, { minLength: 1, maxLength: 8 }), async (ops) => {
        const ws = randomUUID();
        // A generous timeout: a slow CI machine must not turn a decision into a fail-open one.
        const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new RedisQuotaStore({ client: redis, timeoutMs: 5_000 }) });
        await runQuotaOps(ws, { guard, snapshot: () => redisState(redis, `tk:{${ws}}:*`) }, ops);
        await guard.close();
      }),
      { numRuns: 100 },
    );
  });
});

describe("QuotaGuard on PostgresQuotaStore (real Postgres)", () => {
  const store = () => new PostgresQuotaStore({ db: pool() });
  const rows = async (ws: string) =>
    JSON.stringify((await pool().query("select workspace_id, limit_name, state from tenancy_quota_state where root_workspace_id = $1 order by 1, 2", [ws])).rows);

  it("hostile costs, names, reservations, reconcile values and corrupt stored state: Err exactly for bad input, no SQL error; an Err writes no row", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 6, arbitrary: quotaOp }, { weight: 1, arbitrary: corruptOp }), { minLength: 1, maxLength: 8 }), async (ops) => {
        const ws = randomUUID();
        const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: store() });
        await runQuotaOps(
          ws,
          {
            guard,
            snapshot: () => rows(ws),
            corrupt: async (limit, state) => {
              await pool().query(
                `insert into tenancy_quota_state (root_workspace_id, workspace_id, limit_name, state) values ($1, $1, $2, $3::jsonb)
                 on conflict (root_workspace_id, workspace_id, limit_name) do update set state = excluded.state`,
                [ws, limit, state],
              );
            },
          },
          ops,
        );
        await guard.close();
      }),
      { numRuns: 60 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each wrote rows or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("quota (postgres): a decision refused for corrupt state writes no row, not even for its limits not stored yet", async () => {
    const ws = randomUUID();
    const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new PostgresQuotaStore({ db: pool() }) });
    (await guard.acquire({ workspaceId: ws, limit: "slots" }))._unsafeUnwrap();
    await pool().query(`update tenancy_quota_state set state = '"garbage"' where workspace_id = $1 and limit_name = 'slots'`, [ws]);
    const names = async () => (await pool().query<{ limit_name: string }>("select limit_name from tenancy_quota_state where workspace_id = $1 order by 1", [ws])).rows.map((r) => r.limit_name);
    expect(await names()).toEqual(["slots"]);
    for (const mode of ["check", "reserve"] as const) {
      const refused = await noThrow(mode, () => guard[mode]({ workspaceId: ws, limits: [{ limit: "slots" }, { limit: "burst" }, { limit: "items" }] }));
      expectTypedErr(refused, mode, ["StoreFailed"]);
      expect(await names(), `${mode}: no row for burst or items`).toEqual(["slots"]);
    }
  });

  it("quota (postgres): a check and a denied decision write no row (each inserted empty rows for its limits not stored yet)", async () => {
    const ws = randomUUID();
    const guard = new QuotaGuard({ policies: { plans: { free: PLAN }, defaultPlan: "free" }, store: new PostgresQuotaStore({ db: pool() }) });
    const names = async () => (await pool().query<{ limit_name: string }>("select limit_name from tenancy_quota_state where workspace_id = $1 order by 1", [ws])).rows.map((r) => r.limit_name);
    const checked = await guard.check({ workspaceId: ws, limits: [{ limit: "items" }, { limit: "calls" }] });
    expect(checked.isOk() && checked.value.allowed, JSON.stringify(checked)).toBe(true);
    expect(await names(), "after a check").toEqual([]);
    const filled = await guard.reserve({ workspaceId: ws, limit: "items", cost: 20 });
    expect(filled.isOk() && filled.value.allowed, JSON.stringify(filled)).toBe(true);
    expect(await names(), "after an allowed reservation").toEqual(["items"]);
    // items is full: denied, and calls (not stored yet) must not get a row.
    const denied = await guard.reserve({ workspaceId: ws, limits: [{ limit: "calls" }, { limit: "items" }] });
    expect(denied.isOk() && !denied.value.allowed, JSON.stringify(denied)).toBe(true);
    expect(await names(), "after a denial").toEqual(["items"]);
  });
});
