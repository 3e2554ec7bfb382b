import fc from "fast-check";
import type { Result } from "neverthrow";
import type { QuotaGuard, Reservation, WorkspaceQuota } from "../../../src/quota/index.js";
import { hostile, hostileNoProxy, isValidId, noThrow, PLAN, str } from "./hostile-values.js";

/**
 * QuotaGuard's bad-input model (docs/quota.md) and hostile calls, shared by
 * the memory-store properties (quota.property.test.ts) and the Redis and
 * Postgres ones (test/integration/hostile/quota.property.test.ts).
 */

export type LimitName = keyof typeof PLAN;
export const LIMIT_NAMES = Object.keys(PLAN) as LimitName[];
/** The largest cost one call may ask of each limit (the GCRA burst for `burst`). */
const MAX_COST: Record<LimitName, number> = { calls: 1_000, burst: 10, window: 50, items: 20, slots: 3 };

const isLimitName = (x: unknown): x is LimitName => typeof x === "string" && Object.hasOwn(PLAN, x);
const isCost = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 1;

export type DecideMode = "consume" | "check" | "reserve" | "acquire";
export type DecideRequest = { limit?: unknown; cost?: unknown; limits?: unknown };

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

function badDecide(mode: DecideMode, request: DecideRequest): boolean {
  if (request.limits === undefined) return badEntries(mode, [{ limit: request.limit, cost: request.cost }]);
  const list = request.limits;
  if (request.limit !== undefined || !Array.isArray(list) || list.length === 0 || list.length > 32) return true;
  return badEntries(mode, list);
}

/** A change to the live reservation before it is settled (`whole`: the reservation replaced by `value`). */
export type SettleChange = { field: "id" | "workspaceId" | "items" | "whole"; value: unknown };

export type QuotaOp =
  | { op: "decide"; mode: DecideMode; handle: boolean; request: DecideRequest }
  | { op: "settle"; mode: "commit" | "release"; change: SettleChange | undefined }
  | { op: "reconcile"; limit: unknown; actual: unknown };

/**
 * What each suite feeds its hostile calls beyond the shared model. The
 * arbitraries built from it have one structure (arms, weights, order), so
 * each suite draws exactly what it drew when it declared them itself.
 */
export interface QuotaInputs {
  /** Limit names that look almost right (drawn alongside the real names, arbitrary strings and hostile values). */
  readonly oddNames: readonly string[];
  /** Arbitrary text in the limit-name position. */
  readonly nameText: fc.Arbitrary<string>;
  /** Numeric costs at the edges (NaN, 0, 2^53, …). */
  readonly oddCosts: readonly number[];
  /** Costs that are numbers written as strings. */
  readonly costStrings: readonly string[];
  /** The `id` and `workspaceId` changes a settled reservation may get (the `items` and `whole` ones are shared). */
  readonly idChanges: readonly fc.Arbitrary<SettleChange>[];
  /** Reconcile `actual` values at the edges (drawn alongside 0..30 and hostile values). */
  readonly oddActuals: readonly unknown[];
}

export interface QuotaArbitraries {
  readonly limitName: fc.Arbitrary<unknown>;
  readonly cost: fc.Arbitrary<unknown>;
  /** One `{ limit, cost }` entry, or garbage (no Proxies: the guard must read entries). */
  readonly entry: fc.Arbitrary<unknown>;
  readonly decideRequest: fc.Arbitrary<DecideRequest>;
  /** consume, check, reserve or acquire, on the guard or (but acquire) the workspace handle. */
  readonly decideOp: fc.Arbitrary<QuotaOp>;
  /** commit or release of the live reservation, untouched or changed. */
  readonly settleOp: fc.Arbitrary<QuotaOp>;
  readonly reconcileOp: fc.Arbitrary<QuotaOp>;
}

export function quotaArbitraries(inputs: QuotaInputs): QuotaArbitraries {
  const limitName = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...LIMIT_NAMES) },
    { weight: 1, arbitrary: fc.constantFrom(...inputs.oddNames) },
    { weight: 1, arbitrary: inputs.nameText },
    { weight: 2, arbitrary: hostile },
  );
  const cost = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }) },
    { weight: 1, arbitrary: fc.integer({ min: -3, max: 1_200 }) },
    { weight: 2, arbitrary: fc.constantFrom(...inputs.oddCosts) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.constantFrom(...inputs.costStrings) },
    { weight: 1, arbitrary: fc.bigInt({ min: -2n, max: 3n }) },
    { weight: 2, arbitrary: hostile },
  );
  const entry = fc.oneof({ weight: 4, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: ["limit"] }) }, { weight: 1, arbitrary: hostileNoProxy });
  const decideRequest: fc.Arbitrary<DecideRequest> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ limit: limitName, cost }, { requiredKeys: [] }) },
    {
      weight: 2,
      arbitrary: fc.record(
        { limits: fc.oneof({ weight: 4, arbitrary: fc.array(entry, { maxLength: 5 }) }, { weight: 1, arbitrary: hostileNoProxy }), limit: limitName },
        { requiredKeys: ["limits"] },
      ),
    },
  );
  const decideOp = fc.record({ op: fc.constant("decide" as const), mode: fc.constantFrom<DecideMode>("consume", "check", "reserve", "acquire"), handle: fc.boolean(), request: decideRequest });
  const settleOp = fc.record({
    op: fc.constant("settle" as const),
    mode: fc.constantFrom("commit" as const, "release" as const),
    change: fc.option(
      fc.oneof(
        ...inputs.idChanges,
        fc.record({ field: fc.constant("items" as const), value: fc.oneof(fc.array(entry, { maxLength: 3 }), hostileNoProxy) }),
        fc.record({ field: fc.constant("whole" as const), value: hostileNoProxy }),
      ),
      { nil: undefined },
    ),
  });
  const reconcileOp = fc.record({
    op: fc.constant("reconcile" as const),
    limit: limitName,
    actual: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(...inputs.oddActuals), hostile),
  });
  return { limitName, cost, entry, decideRequest, decideOp, settleOp, reconcileOp };
}

/** Where an op runs: the guard, its handle on `workspaceId`, and the reservation settle ops start from. */
export interface QuotaTarget {
  readonly guard: QuotaGuard;
  readonly handle: WorkspaceQuota;
  readonly workspaceId: string;
  readonly reserved: Reservation;
}

/**
 * Makes one op's call (failing if it throws or rejects) and says what the
 * docs make of its input: `bad` exactly when it must be an Err.
 */
export async function applyQuotaOp({ guard, handle, workspaceId, reserved }: QuotaTarget, op: QuotaOp): Promise<{ what: string; bad: boolean; result: Result<unknown, unknown> }> {
  if (op.op === "decide") {
    const what = `${op.handle ? "handle." : ""}${op.mode}(${str(op.request)})`;
    const bad = badDecide(op.mode, op.request);
    const request = op.request as never;
    if (op.handle && op.mode !== "acquire") return { what, bad, result: await noThrow(what, () => handle[op.mode as "consume"](request)) };
    return { what, bad, result: await noThrow(what, () => guard[op.mode]({ ...(request as object), workspaceId } as never)) };
  }
  if (op.op === "settle") {
    let reservation: unknown = reserved;
    if (op.change?.field === "whole") reservation = op.change.value;
    else if (op.change !== undefined) reservation = { ...reserved, [op.change.field]: op.change.value };
    const what = `${op.mode}(${str(reservation)})`;
    const r = reservation as { id?: unknown; workspaceId?: unknown; items?: unknown } | null;
    const bad =
      typeof r !== "object" || r === null || typeof r.id !== "string" || !isValidId(r.workspaceId) ||
      !Array.isArray(r.items) || r.items.length === 0 || r.items.length > 32 || badEntries(op.mode, r.items);
    return { what, bad, result: await noThrow(what, () => guard[op.mode]({ reservation: reservation as never })) };
  }
  const what = `reconcile(${str(op)})`;
  const { actual, limit } = op;
  const bad = typeof actual !== "number" || !Number.isSafeInteger(actual) || actual < 0 || !isLimitName(limit) || (PLAN[limit].kind !== "count" && PLAN[limit].kind !== "period");
  return { what, bad, result: await noThrow(what, () => guard.reconcile({ workspaceId, limit: limit as never, actual: actual as never })) };
}
