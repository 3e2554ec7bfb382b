import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/index.js";
import { MemoryQuotaStore, QuotaGuard } from "../../../src/quota/index.js";
import { expectErrIff, expectTypedErr, hostile, idLike, noProto, noThrow, PLAN, throwingToString, W } from "./hostile-values.js";
import { applyQuotaOp, LIMIT_NAMES, quotaArbitraries, type QuotaOp } from "./quota-ops.js";

const { decideOp, settleOp, reconcileOp } = quotaArbitraries({
  oddNames: ["__proto__", "constructor", "toString", "hasOwnProperty", "", "calls ", "CALLS", "calls\u0000"],
  nameText: fc.string({ maxLength: 70 }),
  oddCosts: [NaN, Infinity, -Infinity, 0, -0, 0.5, 1.5, 1e-300, 2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER],
  costStrings: ["1", "2", " 1"],
  idChanges: [fc.record({ field: fc.constantFrom("id" as const, "workspaceId" as const), value: fc.oneof(hostile, idLike) })],
  oddActuals: [-1, 0.5, NaN, Infinity, 2 ** 53, "3"],
});
const quotaOp: fc.Arbitrary<QuotaOp> = fc.oneof({ weight: 5, arbitrary: decideOp }, { weight: 2, arbitrary: settleOp }, { weight: 2, arbitrary: reconcileOp });

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
              const { what, bad, result } = await applyQuotaOp({ guard, handle, workspaceId: W, reserved }, op);
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
