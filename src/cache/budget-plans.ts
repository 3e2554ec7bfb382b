import type { TenancyLogger } from "../core/logger.js";
import type { WorkspaceId } from "../core/workspace-id.js";
import type { ResolvedCacheOptions, WorkspaceBudget } from "./options.js";

/** A partition's byte budget: its guaranteed floor and its cap (from `budgetFor`, or the defaults). */
export interface PartitionBudget {
  readonly floor: number;
  readonly cap: number;
}

type Plan = { readonly [K in keyof WorkspaceBudget]: WorkspaceBudget[K] | undefined };

/**
 * Per-workspace byte budgets from the plan (`budgetFor`), clamped to valid
 * numbers, with the cache-wide defaults for anything missing or invalid.
 */
export class BudgetPlans {
  /** The budget of every workspace when there is no `budgetFor`. */
  readonly #defaults: PartitionBudget;

  constructor(
    private readonly options: Pick<ResolvedCacheOptions<unknown>, "budgetFor" | "maxWorkspaceBytes" | "floorBytes">,
    private readonly logger: TenancyLogger,
  ) {
    this.#defaults = this.#budgetFrom(undefined);
  }

  budgetOf(workspaceId: WorkspaceId): PartitionBudget {
    return this.options.budgetFor === undefined ? this.#defaults : this.#budgetFrom(this.#planOf(workspaceId));
  }

  #budgetFrom(plan: Plan | undefined): PartitionBudget {
    const cap = Math.max(1, Math.floor(clampBytes(plan?.maxBytes, this.options.maxWorkspaceBytes)));
    const floor = Math.min(cap, clampBytes(plan?.floorBytes, this.options.floorBytes));
    return { floor, cap };
  }

  /**
   * The plan's budget, or undefined for the defaults. A throwing `budgetFor`
   * (a plan lookup that failed) must not turn a cache call into an exception:
   * the workspace gets the default budget, as for an invalid answer, and the
   * error is logged.
   */
  #planOf(workspaceId: WorkspaceId): Plan | undefined {
    const budgetFor = this.options.budgetFor;
    if (budgetFor === undefined) return undefined;
    try {
      const budget = budgetFor(workspaceId);
      // Read here, inside the try: the answer's fields are the plan's too.
      return budget == null ? undefined : { floorBytes: budget.floorBytes, maxBytes: budget.maxBytes };
    } catch (thrown) {
      this.logger.warn({ workspaceId, err: thrown }, "cache: budgetFor threw; using the default budget");
      return undefined;
    }
  }
}

function clampBytes(value: number | undefined, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fallback;
}
