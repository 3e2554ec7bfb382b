import { err, ok, type Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import { tenancyError } from "../core/errors.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import { compileLimit, type CompiledLimit } from "./limits.js";
import type { PolicySource } from "./policy.js";
import type { ItemMeta } from "./request.js";
import { KIND_GCRA, type QuotaStore, type StoreItem, type StoreMode, type StoreRequest } from "./store.js";
import { MemoryQuotaStore } from "./stores/memory.js";
import type { PolicyUnavailableError } from "./types.js";

/** One limit of one workspace, ready for the store: its own item and, for a child, the parent's. */
export interface BoundLimit {
  readonly name: string;
  readonly own: CompiledLimit;
  readonly ownKey: string;
  readonly parent?: CompiledLimit;
  readonly parentKey?: string;
  /** The item list for cost 1 (the common case), built once. */
  readonly unitItems: readonly StoreItem[];
  /** What each unit item stands for (own, then parent). */
  readonly meta: readonly ItemMeta[];
  /** Prebuilt cost-1 requests, so the hot path allocates no request objects. */
  readonly consumeUnit: StoreRequest;
  readonly checkUnit: StoreRequest;
  /** The prepared cost-1 request (items, meta, costs), for the guard's hot path. */
  readonly unit: { readonly items: readonly StoreItem[]; readonly meta: readonly ItemMeta[]; readonly costs: readonly { readonly limit: string; readonly cost: number }[] };
  readonly costs: readonly { readonly limit: string; readonly cost: number }[];
  /** True when the limit (own or parent) is a shadow limit. */
  readonly shadow: boolean;
  /** One GCRA item, no parent, no shadow, memory store: the guard's allocation-free path applies. */
  readonly raw: boolean;
}

/** The meta of one item (one constructor, so every meta has the same shape). */
export function itemMeta(name: string, scope: "own" | "parent", workspaceId: WorkspaceId, limit: CompiledLimit): ItemMeta {
  return { name, scope, workspaceId, limit, max: limit.limit };
}

function finish(
  partial: Pick<BoundLimit, "name" | "own" | "ownKey" | "unitItems"> & { parent?: CompiledLimit; parentKey?: string },
  meta: readonly ItemMeta[],
): BoundLimit {
  // Frozen: a static item list, which a store may encode once (the Redis store does).
  Object.freeze(partial.unitItems);
  const costs = [{ limit: partial.name, cost: 1 }];
  return {
    ...partial,
    meta,
    consumeUnit: { mode: "consume", items: partial.unitItems },
    checkUnit: { mode: "check", items: partial.unitItems },
    unit: { items: partial.unitItems, meta, costs },
    costs,
    shadow: meta.some((m) => m.limit.shadow),
    raw: false,
  };
}

/** Everything the hot path needs for a workspace, cached for `ttlMs`. */
export interface BoundWorkspace {
  readonly workspaceId: WorkspaceId;
  readonly parentWorkspaceId?: WorkspaceId;
  readonly limits: ReadonlyMap<string, BoundLimit>;
  readonly expiresAt: number;
  /** The last multi-limit cost-1 request prepared for this workspace (see request.ts `unitCosts`). */
  readonly lastMulti: LastMulti;
}

/** One remembered multi-limit request: its limit names, mode and prepared (frozen) items. */
export interface LastMulti {
  names: readonly string[];
  mode: StoreMode | undefined;
  prepared: { readonly items: readonly StoreItem[]; readonly meta: readonly ItemMeta[]; readonly costs: readonly { readonly limit: string; readonly cost: number }[] } | undefined;
}

export function itemFor(limit: CompiledLimit, key: string, cost: number): StoreItem {
  return { key, kind: limit.kind, limit: limit.limit, cost, a: limit.a, b: limit.b };
}

/**
 * Resolves policies per call through a short cache (so a changed plan applies
 * within `ttlMs` without a restart) and compiles them into store items once.
 * Bounded: past `maxEntries` the cache is dropped whole rather than tracked per entry.
 */
export class PolicyResolver {
  readonly #source: PolicySource;
  readonly #store: QuotaStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #cache = new Map<WorkspaceId, BoundWorkspace>();
  readonly #rawCapable: boolean;

  constructor(source: PolicySource, store: QuotaStore, clock: Clock, ttlMs: number, maxEntries = 100_000) {
    this.#source = source;
    this.#store = store;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
    this.#rawCapable = store instanceof MemoryQuotaStore;
  }

  /** The cached binding when fresh; the hot path avoids a promise with it. */
  cached(workspaceId: WorkspaceId, now = this.#clock.now()): BoundWorkspace | undefined {
    const bound = this.#cache.get(workspaceId);
    return bound !== undefined && bound.expiresAt > now ? bound : undefined;
  }

  async bind(workspaceId: WorkspaceId): Promise<Result<BoundWorkspace, PolicyUnavailableError>> {
    const hit = this.cached(workspaceId);
    if (hit !== undefined) return ok(hit);
    const own = await this.#source.resolve(workspaceId);
    if (own.isErr()) return err(own.error);
    const parentId = own.value.parentWorkspaceId;
    let parentLimits: Readonly<Record<string, import("./types.js").LimitSpec>> = {};
    if (parentId !== undefined && parentId !== workspaceId) {
      const parent = await this.#source.resolve(parentId);
      if (parent.isErr()) return err(parent.error);
      const grandparent = parent.value.parentWorkspaceId;
      if (grandparent !== undefined && grandparent !== parentId) {
        // Keys are grouped by family root (one Redis slot per family): with two levels the parent's
        // own limit would be counted under two roots, as two counters that each allow the full limit.
        return err(
          tenancyError("PolicyUnavailable", `workspace ${workspaceId}'s parent ${parentId} has a parent (${grandparent}): quota families are one level deep`, { workspaceId }),
        );
      }
      parentLimits = parent.value.limits;
    }
    const root = parentId ?? workspaceId;
    const limits = new Map<string, BoundLimit>();
    for (const [name, spec] of Object.entries(own.value.limits)) {
      const compiled = compileLimit(name, spec);
      const ownKey = this.#store.key(root, workspaceId, name);
      const parentSpec = parentId === undefined ? undefined : parentLimits[name];
      if (parentSpec === undefined || parentId === undefined) {
        const meta: ItemMeta[] = [itemMeta(name, "own", workspaceId, compiled)];
        const bl = finish({ name, own: compiled, ownKey, unitItems: [itemFor(compiled, ownKey, 1)] }, meta);
        limits.set(name, this.#rawCapable && compiled.kind === KIND_GCRA && !compiled.shadow ? { ...bl, raw: true } : bl);
        continue;
      }
      const parent = compileLimit(name, parentSpec);
      const parentKey = this.#store.key(root, parentId, name);
      const meta: ItemMeta[] = [
        itemMeta(name, "own", workspaceId, compiled),
        itemMeta(name, "parent", parentId, parent),
      ];
      limits.set(name, finish({ name, own: compiled, ownKey, parent, parentKey, unitItems: [itemFor(compiled, ownKey, 1), itemFor(parent, parentKey, 1)] }, meta));
    }
    const bound: BoundWorkspace = {
      workspaceId,
      ...(parentId === undefined ? {} : { parentWorkspaceId: parentId }),
      limits,
      expiresAt: this.#clock.now() + this.#ttlMs,
      lastMulti: { names: [], mode: undefined, prepared: undefined },
    };
    if (this.#cache.size >= this.#maxEntries) this.#cache.clear();
    this.#cache.set(workspaceId, bound);
    return ok(bound);
  }

  /** Bumped by `invalidate`, so handles that remember a binding know to look it up again. */
  generation = 0;

  /** Forgets cached policies (all, or one workspace) so the next call re-reads the source. */
  invalidate(workspaceId?: WorkspaceId): void {
    this.generation++;
    if (workspaceId === undefined) this.#cache.clear();
    else this.#cache.delete(workspaceId);
  }
}
