import { err, ok, type Result } from "neverthrow";
import { describeValue, invalidInput, tenancyError } from "../core/errors.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { CompiledLimit } from "./limits.js";
import { itemFor, itemMeta, type BoundLimit, type BoundWorkspace } from "./resolver.js";
import { KIND_CONCURRENCY, KIND_COUNT, KIND_PERIOD, type StoreItem, type StoreMode } from "./store.js";
import type { LimitCost, QuotaError, Reservation } from "./types.js";

/** The answer to a request that is not an object. */
export function notAnObject(): Promise<Result<never, QuotaError>> {
  return Promise.resolve(err(invalidInput("request must be an object")));
}

/** The reservation of commit/release's argument, or undefined (which the guard refuses) when there is no object to read it from. */
export function reservationOf(input: { readonly reservation: Reservation } | null | undefined): Reservation {
  return (typeof input === "object" && input !== null ? input.reservation : undefined) as Reservation;
}

/** What each store item stands for, to turn store answers back into named limits. */
export interface ItemMeta {
  readonly name: string;
  readonly scope: "own" | "parent";
  readonly workspaceId: WorkspaceId;
  readonly limit: CompiledLimit;
  /**
   * `limit.limit`, copied: every decision reads it for each item, and under load
   * the compiled limit of one of a thousand workspaces is rarely in the CPU's
   * cache (profiled: one more dependent load per item cost ~1 µs a decision).
   */
  readonly max: number;
}

export interface PreparedRequest {
  readonly items: readonly StoreItem[];
  readonly meta: readonly ItemMeta[];
  readonly costs: readonly { readonly limit: string; readonly cost: number }[];
}

const MAX_LIMITS_PER_CALL = 32;

/** Validates one cost: a positive safe integer. */
export function costProblem(cost: unknown): string | undefined {
  if (typeof cost !== "number" || !Number.isFinite(cost)) return `cost must be a finite number, got ${describeValue(cost)}`;
  if (!Number.isInteger(cost)) return `cost must be a whole number, got ${cost}`;
  if (cost < 1) return `cost must be at least 1, got ${cost}`;
  if (cost > Number.MAX_SAFE_INTEGER) return `cost is too large`;
  return undefined;
}

function metaFor(bound: BoundWorkspace, b: BoundLimit): ItemMeta[] {
  const own = itemMeta(b.name, "own", bound.workspaceId, b.own);
  if (b.parent === undefined || bound.parentWorkspaceId === undefined) return [own];
  return [own, itemMeta(b.name, "parent", bound.parentWorkspaceId, b.parent)];
}

/**
 * Turns `{ limit, cost }` or `{ limits: [...] }` into store items for a bound
 * workspace. Every problem is a typed error before anything reaches the store,
 * so bad input can never consume part of a multi-limit request.
 */
export function prepare(
  bound: BoundWorkspace,
  mode: StoreMode,
  single: string | undefined,
  singleCost: unknown,
  many: readonly LimitCost[] | undefined,
): Result<PreparedRequest, QuotaError> {
  const workspaceId = bound.workspaceId;
  let list: readonly LimitCost[];
  if (many !== undefined) {
    if (!Array.isArray(many) || many.length === 0) return err(invalidInput("limits must be a non-empty array of { limit, cost }", { workspaceId }));
    if (single !== undefined) return err(invalidInput("pass either limit or limits, not both", { workspaceId }));
    if (many.length > MAX_LIMITS_PER_CALL) return err(invalidInput(`at most ${MAX_LIMITS_PER_CALL} limits per call`, { workspaceId }));
    list = many;
    const unit = unitCosts(bound, mode, many);
    if (unit !== undefined) return ok(unit);
  } else {
    if (typeof single !== "string") return err(invalidInput("limit must be a limit name", { workspaceId }));
    // The common case: one limit at cost 1, served from prebuilt items.
    const b = bound.limits.get(single);
    if (b !== undefined && singleCost === undefined) {
      const kindProblem = modeProblem(mode, b.own, single);
      if (kindProblem !== undefined) return err(invalidInput(kindProblem, { workspaceId }));
      return ok({ items: b.unitItems, meta: b.meta, costs: b.costs });
    }
    list = [{ limit: single, ...(singleCost === undefined ? {} : { cost: singleCost as number }) }];
  }
  const items: StoreItem[] = [];
  const meta: ItemMeta[] = [];
  const costs: { limit: string; cost: number }[] = [];
  const seen = new Set<string>();
  for (const entry of list) {
    const name = (entry as { limit?: unknown } | null)?.limit;
    if (typeof name !== "string") return err(invalidInput("each limit must be { limit: string, cost?: number }", { workspaceId }));
    const b = bound.limits.get(name);
    if (b === undefined) return err(tenancyError("UnknownLimit", `workspace has no limit named ${JSON.stringify(name.slice(0, 80))}`, { workspaceId }));
    if (seen.has(name)) return err(invalidInput(`limit ${name} appears twice in one call`, { workspaceId }));
    seen.add(name);
    const cost = entry.cost === undefined ? 1 : entry.cost;
    const problem = costProblem(cost);
    if (problem !== undefined) return err(tenancyError("InvalidCost", `${name}: ${problem}`, { workspaceId }));
    const kindProblem = modeProblem(mode, b.own, name);
    if (kindProblem !== undefined) return err(invalidInput(kindProblem, { workspaceId }));
    for (const m of metaFor(bound, b)) {
      if (cost > m.limit.maxCost) {
        return err(
          tenancyError("CostExceedsLimit", `${name}: cost ${cost} exceeds the ${m.scope === "own" ? "" : "parent's "}limit ${m.limit.maxCost}; it can never pass`, { workspaceId }),
        );
      }
      items.push(itemFor(m.limit, m.scope === "own" ? b.ownKey : (b.parentKey ?? b.ownKey), cost));
      meta.push(m);
    }
    costs.push({ limit: name, cost });
  }
  return ok({ items, meta, costs });
}

/**
 * Several limits, each at cost 1 (the common multi-limit call): joins the
 * prebuilt unit items, so no item is built per call. `undefined` sends the
 * list through the general (validating) path, which also reports any problem.
 */
function unitCosts(bound: BoundWorkspace, mode: StoreMode, list: readonly LimitCost[]): PreparedRequest | undefined {
  const n = list.length;
  // The same limits as last time (by name, all at cost 1, same mode): the same frozen items,
  // which the Redis store has already encoded.
  const last = bound.lastMulti;
  if (last.mode === mode && last.prepared !== undefined && sameUnitList(list, last.names)) return last.prepared;
  const found: BoundLimit[] = new Array<BoundLimit>(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const entry = list[i] as { limit?: unknown; cost?: unknown } | null;
    if (entry === null || typeof entry !== "object" || (entry.cost !== undefined && entry.cost !== 1) || typeof entry.limit !== "string") return undefined;
    const b = bound.limits.get(entry.limit);
    if (b === undefined || modeProblem(mode, b.own, b.name) !== undefined) return undefined;
    for (let j = 0; j < i; j++) if (found[j] === b) return undefined;
    for (const m of b.meta) if (m.limit.maxCost < 1) return undefined;
    found[i] = b;
    size += b.unitItems.length;
  }
  const items: StoreItem[] = new Array<StoreItem>(size);
  const meta: ItemMeta[] = new Array<ItemMeta>(size);
  const costs: { readonly limit: string; readonly cost: number }[] = new Array<{ readonly limit: string; readonly cost: number }>(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const b = found[i]!;
    for (let j = 0; j < b.unitItems.length; j++, k++) {
      items[k] = b.unitItems[j]!;
      meta[k] = b.meta[j]!;
    }
    costs[i] = b.costs[0]!;
  }
  Object.freeze(items);
  const prepared = { items, meta, costs };
  last.names = found.map((b) => b.name);
  last.mode = mode;
  last.prepared = prepared;
  return prepared;
}

/** True when `list` names exactly `names`, in order, each at cost 1 (implicit or explicit). */
function sameUnitList(list: readonly LimitCost[], names: readonly string[]): boolean {
  if (list.length !== names.length) return false;
  for (let i = 0; i < names.length; i++) {
    const entry = list[i] as { limit?: unknown; cost?: unknown } | null;
    if (entry === null || typeof entry !== "object" || entry.limit !== names[i] || (entry.cost !== undefined && entry.cost !== 1)) return false;
  }
  return true;
}

function modeProblem(mode: StoreMode, limit: CompiledLimit, name: string): string | undefined {
  if (limit.kind === KIND_CONCURRENCY && (mode === "consume" || mode === "lease")) return `${name} is a concurrency limit: use acquire() and release()`;
  if (mode === "reconcile" && limit.kind !== KIND_COUNT && limit.kind !== KIND_PERIOD) return `${name}: only count and period limits can be reconciled`;
  return undefined;
}
