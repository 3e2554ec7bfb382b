import { err, ok, type Result } from "neverthrow";
import { quotedValue, tenancyError } from "../core/errors.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { effectiveLimits, planProblems, unknownFields } from "./limits.js";
import type { Plan, PolicyUnavailableError } from "./types.js";

/** What a policy source knows about one workspace. */
export interface ResolvedPolicy {
  /** The workspace's limits: its plan with its overrides applied. */
  readonly limits: Plan;
  /** Set for a child workspace: it is also checked against its parent's limits. */
  readonly parentWorkspaceId?: WorkspaceId;
}

/**
 * Where limits come from. Resolved per call through the guard's short cache,
 * so a plan or override change takes effect within `policyCacheMs`, with no restart.
 */
export interface PolicySource {
  resolve(workspaceId: WorkspaceId): Promise<Result<ResolvedPolicy, PolicyUnavailableError>>;
}

/** A workspace's plan assignment, overrides and parent. */
export interface WorkspaceAssignment {
  readonly plan?: string;
  readonly overrides?: Plan;
  readonly parentWorkspaceId?: string;
}

export interface PlansConfig {
  readonly plans: Readonly<Record<string, Plan>>;
  /** The plan of workspaces without an assignment. */
  readonly defaultPlan: string;
  readonly workspaces?: Readonly<Record<string, WorkspaceAssignment>>;
}

/** True when `name` is one of the plans (an own property: "toString" or "__proto__" is no plan). */
const isPlan = (plans: object, name: unknown): boolean => typeof name === "string" && Object.hasOwn(plans, name);

/** Every problem in a plans configuration (empty when valid). */
export function plansConfigProblems(config: unknown): string[] {
  if (typeof config !== "object" || config === null) return ["quota plans must be an object { plans, defaultPlan, workspaces? }"];
  const c = config as Record<string, unknown>;
  const problems: string[] = unknownFields("quota plans", c, ["plans", "defaultPlan", "workspaces"]);
  const plans = c.plans;
  if (typeof plans !== "object" || plans === null) problems.push("plans must be an object of plan name → limits");
  else for (const [name, plan] of Object.entries(plans)) problems.push(...planProblems(name, plan));
  if (typeof plans !== "object" || plans === null || !isPlan(plans, c.defaultPlan)) {
    problems.push(`defaultPlan must name a plan, got ${quotedValue(c.defaultPlan)}`);
  }
  const workspaces = c.workspaces;
  if (workspaces !== undefined) {
    if (typeof workspaces !== "object" || workspaces === null) problems.push("workspaces must be an object of workspace id → assignment");
    else
      for (const [id, a] of Object.entries(workspaces as Record<string, unknown>)) {
        if (parseWorkspaceId(id).isErr()) problems.push(`workspaces: ${JSON.stringify(id)} is not a workspace id`);
        if (typeof a !== "object" || a === null) {
          problems.push(`workspaces.${id}: must be an object`);
          continue;
        }
        const w = a as Record<string, unknown>;
        problems.push(...unknownFields(`workspaces.${id}`, w, ["plan", "overrides", "parentWorkspaceId"]));
        if (w.plan !== undefined && (typeof plans !== "object" || plans === null || !isPlan(plans, w.plan))) {
          problems.push(`workspaces.${id}.plan: unknown plan ${quotedValue(w.plan)}`);
        }
        if (w.overrides !== undefined) problems.push(...planProblems(`workspaces.${id}.overrides`, w.overrides));
        if (w.parentWorkspaceId !== undefined && parseWorkspaceId(w.parentWorkspaceId).isErr()) {
          problems.push(`workspaces.${id}.parentWorkspaceId is not a workspace id`);
        }
        const parent = typeof w.parentWorkspaceId === "string" && Object.hasOwn(workspaces, w.parentWorkspaceId) ? (workspaces as Record<string, { parentWorkspaceId?: unknown } | null>)[w.parentWorkspaceId] : undefined;
        if (typeof parent === "object" && parent !== null && parent.parentWorkspaceId !== undefined && parent.parentWorkspaceId !== w.parentWorkspaceId) {
          problems.push(`workspaces.${id}: its parent ${w.parentWorkspaceId} has a parent too; quota families are one level deep`);
        }
      }
  }
  return problems;
}

/**
 * Policies from an object in code. `assign` changes a workspace at run time
 * (the guard picks it up after its policy cache TTL).
 */
export class StaticPolicySource implements PolicySource {
  readonly #plans: Readonly<Record<string, Plan>>;
  readonly #defaultPlan: string;
  readonly #workspaces = new Map<WorkspaceId, ResolvedPolicy>();

  /** @throws TypeError listing every problem when the configuration is invalid (a programmer error). */
  constructor(config: PlansConfig) {
    const problems = plansConfigProblems(config);
    if (problems.length > 0) throw new TypeError(`quota plans: ${problems.join("; ")}`);
    this.#plans = config.plans;
    this.#defaultPlan = config.defaultPlan;
    for (const [id, assignment] of Object.entries(config.workspaces ?? {})) this.assign(id, assignment);
  }

  /** Sets (or replaces) a workspace's plan, overrides and parent. */
  assign(workspaceId: string, assignment: WorkspaceAssignment): void {
    const problems = plansConfigProblems({ plans: this.#plans, defaultPlan: this.#defaultPlan, workspaces: { [workspaceId]: assignment } });
    if (problems.length > 0) throw new TypeError(`quota plans: ${problems.join("; ")}`);
    const id = parseWorkspaceId(workspaceId)._unsafeUnwrap();
    this.#workspaces.set(id, resolveAssignment(this.#plans, this.#defaultPlan, assignment));
  }

  resolve(workspaceId: WorkspaceId): Promise<Result<ResolvedPolicy, PolicyUnavailableError>> {
    return Promise.resolve(ok(this.resolveSync(workspaceId)));
  }

  resolveSync(workspaceId: WorkspaceId): ResolvedPolicy {
    return this.#workspaces.get(workspaceId) ?? { limits: this.#plans[this.#defaultPlan] ?? {} };
  }
}

export function resolveAssignment(plans: Readonly<Record<string, Plan>>, defaultPlan: string, a: WorkspaceAssignment): ResolvedPolicy {
  const plan = plans[a.plan ?? defaultPlan] ?? {};
  const limits = effectiveLimits(plan, a.overrides);
  const parent = a.parentWorkspaceId === undefined ? undefined : parseWorkspaceId(a.parentWorkspaceId);
  return parent !== undefined && parent.isOk() ? { limits, parentWorkspaceId: parent.value } : { limits };
}

/**
 * Policies from `TENANCY_QUOTA_PLANS` (JSON `{ plans, defaultPlan, workspaces? }`),
 * as returned by `loadConfig(process.env).quotaPlans`. Every problem is listed in one error.
 */
export function policiesFromEnv(value: unknown): Result<StaticPolicySource, PolicyUnavailableError> {
  let config = value;
  if (typeof value === "string") {
    try {
      config = JSON.parse(value) as unknown;
    } catch (thrown) {
      return err(tenancyError("PolicyUnavailable", `TENANCY_QUOTA_PLANS is not JSON: ${String(thrown)}`));
    }
  }
  const problems = plansConfigProblems(config);
  if (problems.length > 0) return err(tenancyError("PolicyUnavailable", `TENANCY_QUOTA_PLANS: ${problems.join("; ")}`));
  return ok(new StaticPolicySource(config as PlansConfig));
}
