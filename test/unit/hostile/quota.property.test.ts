import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/index.js";
import { MemoryQuotaStore, QuotaGuard } from "../../../src/quota/index.js";
import { expectErrIff, expectTypedErr, hostile, idLike, isProxy, isValidId, noProto, noThrow, PLAN, str, throwingToString, W } from "./hostile-values.js";

type LimitName = keyof typeof PLAN;
const LIMIT_NAMES = Object.keys(PLAN) as LimitName[];
/** The largest cost one call may ask of each limit (the GCRA burst for `burst`). */
const MAX_COST: Record<LimitName, number> = { calls: 1_000, burst: 10, window: 50, items: 20, slots: 3 };

/** Hostile values minus Proxies: for containers the library must read. */
const hostileNoProxy = hostile.filter((v) => !isProxy(v));

const isLimitName = (x: unknown): x is LimitName => typeof x === "string" && Object.hasOwn(PLAN, x);
const isCost = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 1;

type DecideMode = "consume" | "check" | "reserve" | "acquire";

/** Whether a list of `{ limit, cost }` entries is bad input for `mode` (docs/quota.md: costs, names, kinds). */
function badEntries(mode: DecideMode | "commit" | "release", entries: readonly unknown[]): boolean {
  const seen = new Set<string>();
  for (const entry of entries) {
    const { limit, cost } = (entry ?? {}) as { limit?: unknown; cost?: unknown };
    if (!isLimitName(limit) || seen.has(limit)) return true;
    seen.add(limit);
    // Like every optional field here, a null cost is an absent one (the library defaults with `??`).
    const c = cost ?? 1;
    if (!isCost(c) || c > MAX_COST[limit]) return true;
    if (mode === "consume" && PLAN[limit].kind === "concurrency") return true;
  }
  return false;
}

function badDecide(mode: DecideMode, request: { limit?: unknown; cost?: unknown; limits?: unknown }): boolean {
  if (request.limits === undefined) return badEntries(mode, [{ limit: request.limit, cost: request.cost }]);
  const list = request.limits;
  if (request.limit !== undefined || !Array.isArray(list) || list.length === 0 || list.length > 32) return true;
  return badEntries(mode, list);
}

const limitName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LIMIT_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "calls ", "CALLS", "calls\u0000") },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 2, arbitrary: hostile },
);
const cost = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 1_200 }) },
  { weight: 2, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 1e-300, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom("1", "2", " 1") },
  { weight: 1, arbitrary: fc.bigInt({ min: -2n, max: 3n }) },
  { weight: 2, arbitrary: hostile },
);
/** One `{ limit, cost }` entry, or garbage (no Proxies: the guard must read entries). */
const entry = fc.oneof({ weight: 4, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: ["limit"] }) }, { weight: 1, arbitrary: hostileNoProxy });
const decideRequest = fc.oneof(
  { weight: 3, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: [] }) },
  {
    weight: 2,
    arbitrary: fc.record(
      { limits: fc.oneof({ weight: 4, arbitrary: fc.array(entry, { maxLength: 5 }) }, { weight: 1, arbitrary: hostileNoProxy }), limit: limitName },
      { requiredKeys: ["limits"] },
    ),
  },
);

type QuotaOp =
  | { op: "decide"; mode: DecideMode; handle: boolean; request: { limit?: unknown; cost?: unknown; limits?: unknown } }
  | { op: "settle"; mode: "commit" | "release"; change: { field: "id" | "workspaceId" | "items" | "whole"; value: unknown } | undefined }
  | { op: "reconcile"; limit: unknown; actual: unknown };

const quotaOp: fc.Arbitrary<QuotaOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("decide" as const), mode: fc.constantFrom<DecideMode>("consume", "check", "reserve", "acquire"), handle: fc.boolean(), request: decideRequest }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      mode: fc.constantFrom("commit" as const, "release" as const),
      change: fc.option(
        fc.oneof(
          fc.record({ field: fc.constantFrom("id" as const, "workspaceId" as const), value: fc.oneof(hostile, idLike) }),
          fc.record({ field: fc.constant("items" as const), value: fc.oneof(fc.array(entry, { maxLength: 3 }), hostileNoProxy) }),
          fc.record({ field: fc.constant("whole" as const), value: hostileNoProxy }),
        ),
        { nil: undefined },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("reconcile" as const),
      limit: limitName,
      actual: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(-1, 0.5, NaN, Infinity, 2 ** 53, "3"), hostile),
    }),
  },
);

/** Usage of every limit of `W` (by a check, which writes nothing) and the number of keys the store holds. */
async function quotaState(guard: QuotaGuard): Promise<string> {
  const d = await guard.check({ workspaceId: W, limits: LIMIT_NAMES.map((limit) => ({ limit })) });
  const limits = d._unsafeUnwrap().limits.map((l) => `${l.limit}=${l.remaining}`);
  return JSON.stringify({ keys: (guard.store as MemoryQuotaStore).size, limits });
}

describe("QuotaGuard (memory store)", () => {
  for (const leased of [false, true]) {
    it(`hostile costs, names and requests${leased ? " (leased mode)" : ""}: Err exactly for bad input, and an Err consumes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(quotaOp, { minLength: 1, maxLength: 8 }), async (ops) => {
          const clock = new ManualClock();
          // Leases live a minute of the manual clock, which never moves: no background expiry between calls.
          const guard = new QuotaGuard({ clock, policies: { plans: { free: PLAN }, defaultPlan: "free" }, ...(leased ? { leased: { leaseMs: 60_000 } } : {}) });
          try {
            await guard.consume({ workspaceId: W, limit: "calls", cost: 3 });
            const reserved = (await guard.reserve({ workspaceId: W, limits: [{ limit: "items", cost: 2 }, { limit: "slots" }] }))._unsafeUnwrap().reservation!;
            const handle = guard.workspace(W)._unsafeUnwrap();
            for (const op of ops) {
              const before = await quotaState(guard);
              let result: Result<unknown, unknown>;
              let bad: boolean;
              let what: string;
              if (op.op === "decide") {
                what = `${op.handle ? "handle." : ""}${op.mode}(${str(op.request)})`;
                bad = badDecide(op.mode, op.request);
                const request = op.request as never;
                if (op.handle && op.mode !== "acquire") result = await noThrow(what, () => handle[op.mode as "consume"](request));
                else result = await noThrow(what, () => guard[op.mode]({ ...(request as object), workspaceId: W } as never));
              } else if (op.op === "settle") {
                let reservation: unknown = reserved;
                if (op.change?.field === "whole") reservation = op.change.value;
                else if (op.change !== undefined) reservation = { ...reserved, [op.change.field]: op.change.value };
                what = `${op.mode}(${str(reservation)})`;
                const r = reservation as { id?: unknown; workspaceId?: unknown; items?: unknown } | null;
                bad =
                  typeof r !== "object" || r === null || typeof r.id !== "string" || !isValidId(r.workspaceId) ||
                  !Array.isArray(r.items) || r.items.length === 0 || r.items.length > 32 || badEntries(op.mode, r.items);
                result = await noThrow(what, () => guard[op.mode]({ reservation: reservation as never }));
              } else {
                what = `reconcile(${str(op)})`;
                const { actual, limit } = op;
                bad = typeof actual !== "number" || !Number.isSafeInteger(actual) || actual < 0 || !isLimitName(limit) || (PLAN[limit].kind !== "count" && PLAN[limit].kind !== "period");
                result = await noThrow(what, () => guard.reconcile({ workspaceId: W, limit: limit as never, actual: actual as never }));
              }
              expectErrIff(result, bad, what);
              if (result.isErr()) expect(await quotaState(guard), `${what} must consume nothing`).toBe(before);
            }
          } finally {
            await guard.close();
          }
        }),
        { numRuns: 120 },
      );
    });
  }
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("quota: a cost, actual or limit of any type is a typed Err (String() of a prototype-less object threw)", async () => {
    const guard = new QuotaGuard({ clock: new ManualClock(), policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    expectTypedErr(await noThrow("consume", () => guard.consume({ workspaceId: W, limit: "calls", cost: noProto() })), "consume", ["InvalidCost"]);
    expectTypedErr(await noThrow("reconcile actual", () => guard.reconcile({ workspaceId: W, limit: "items", actual: noProto() })), "reconcile", ["InvalidInput"]);
    expectTypedErr(await noThrow("reconcile limit", () => guard.reconcile({ workspaceId: W, limit: noProto(), actual: 1 })), "reconcile", ["InvalidInput"]);
    expectTypedErr(await noThrow("reconcile toString", () => guard.reconcile({ workspaceId: W, limit: "__proto__", actual: throwingToString() as never })), "reconcile", ["InvalidInput"]);
  });

  it("quota: commit/release/reconcile and the workspace handle refuse a missing request instead of throwing", async () => {
    const guard = new QuotaGuard({ clock: new ManualClock(), policies: { plans: { free: PLAN }, defaultPlan: "free" } });
    const handle = guard.workspace(W)._unsafeUnwrap();
    for (const [what, call] of [
      ["commit(null)", () => guard.commit(null as never)],
      ["release(undefined)", () => guard.release(undefined as never)],
      ["reconcile(null)", () => guard.reconcile(null as never)],
      ["handle.consume(null)", () => handle.consume(null as never)],
      ["handle.check(undefined)", () => handle.check(undefined as never)],
      ["handle.reserve(null)", () => handle.reserve(null as never)],
    ] as [string, () => Promise<Result<unknown, unknown>>][]) {
      expectTypedErr(await noThrow(what, call), what, ["InvalidInput"]);
    }
  });
});
