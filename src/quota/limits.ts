import { describeValue } from "../core/errors.js";
import {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  PERIOD_BILLING,
  PERIOD_DAY,
  PERIOD_MONTH,
} from "./store.js";
import type { FailurePolicy, LimitSpec, Plan } from "./types.js";

/** Limit names become part of store keys, so they are restricted to a safe alphabet. */
export const LIMIT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_LIMIT = 2 ** 47;

/** The fields each kind of limit takes; any other is a typo that would silently change nothing. */
const COMMON_FIELDS = ["kind", "limit", "shadow", "onStoreFailure"];
const KIND_FIELDS: Readonly<Record<string, readonly string[]>> = {
  count: [...COMMON_FIELDS, "reservationTtlMs"],
  concurrency: [...COMMON_FIELDS, "leaseTtlMs"],
  rate: [...COMMON_FIELDS, "periodMs", "burst", "algorithm"],
  period: [...COMMON_FIELDS, "period", "anchorDay"],
};

/** Problems for every key of `object` outside `allowed`, named as `at`.key. */
export function unknownFields(at: string, object: object, allowed: readonly string[]): string[] {
  return Object.keys(object)
    .filter((key) => !allowed.includes(key))
    .map((key) => `${at}: unknown field ${JSON.stringify(key)} (expected ${allowed.join(", ")})`);
}

/** Everything wrong with one limit spec (empty when valid). */
export function limitProblems(name: string, spec: unknown): string[] {
  const at = `limit ${JSON.stringify(name)}`;
  if (!LIMIT_NAME.test(name)) return [`${at}: name must match ${LIMIT_NAME}`];
  if (typeof spec !== "object" || spec === null) return [`${at}: must be an object`];
  const s = spec as Record<string, unknown>;
  const problems: string[] = typeof s.kind === "string" && Object.hasOwn(KIND_FIELDS, s.kind) ? unknownFields(at, s, KIND_FIELDS[s.kind]!) : [];
  const positiveInt = (field: string, optional: boolean) => {
    const v = s[field];
    if (v === undefined && optional) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT) problems.push(`${at}: ${field} must be a positive integer, got ${describeValue(v)}`);
  };
  positiveInt("limit", false);
  if (s.shadow !== undefined && typeof s.shadow !== "boolean") problems.push(`${at}: shadow must be a boolean`);
  if (s.onStoreFailure !== undefined && !["open", "closed", "local"].includes(s.onStoreFailure as string)) {
    problems.push(`${at}: onStoreFailure must be "open", "closed" or "local"`);
  }
  switch (s.kind) {
    case "count":
      positiveInt("reservationTtlMs", true);
      break;
    case "concurrency":
      positiveInt("leaseTtlMs", true);
      break;
    case "rate":
      positiveInt("periodMs", false);
      positiveInt("burst", true);
      if (s.algorithm !== undefined && s.algorithm !== "gcra" && s.algorithm !== "slidingWindow") problems.push(`${at}: algorithm must be "gcra" or "slidingWindow"`);
      if (s.algorithm === "slidingWindow" && s.burst !== undefined) problems.push(`${at}: burst applies to gcra only`);
      break;
    case "period":
      if (s.period !== "day" && s.period !== "month" && s.period !== "billingMonth") problems.push(`${at}: period must be "day", "month" or "billingMonth"`);
      if (s.period === "billingMonth") {
        const d = s.anchorDay;
        if (typeof d !== "number" || !Number.isInteger(d) || d < 1 || d > 31) problems.push(`${at}: anchorDay must be an integer 1-31 for billingMonth`);
      } else if (s.anchorDay !== undefined) problems.push(`${at}: anchorDay applies to billingMonth only`);
      break;
    default:
      problems.push(`${at}: kind must be "count", "period", "rate" or "concurrency", got ${describeValue(s.kind)}`);
  }
  return problems;
}

export function planProblems(planName: string, plan: unknown): string[] {
  if (typeof plan !== "object" || plan === null || Array.isArray(plan)) return [`plan ${JSON.stringify(planName)} must be an object of limits`];
  return Object.entries(plan).flatMap(([name, spec]) => limitProblems(name, spec).map((p) => `plan ${JSON.stringify(planName)}: ${p}`));
}

/** A limit in the numeric form stores take (see `StoreItem`), minus key and cost. */
export interface CompiledLimit {
  readonly name: string;
  readonly spec: LimitSpec;
  readonly kind: number;
  readonly limit: number;
  /** The most one call may ask for (burst for GCRA). */
  readonly maxCost: number;
  readonly a: number;
  readonly b: number;
  readonly shadow: boolean;
  readonly onStoreFailure: FailurePolicy;
}

export function compileLimit(name: string, spec: LimitSpec): CompiledLimit {
  const base = { name, spec, limit: spec.limit, shadow: spec.shadow ?? false, onStoreFailure: spec.onStoreFailure ?? "open" } as const;
  switch (spec.kind) {
    case "count":
      return { ...base, kind: KIND_COUNT, maxCost: spec.limit, a: spec.reservationTtlMs ?? 30_000, b: 0 };
    case "concurrency":
      return { ...base, kind: KIND_CONCURRENCY, maxCost: spec.limit, a: spec.leaseTtlMs ?? 60_000, b: 0 };
    case "period": {
      const code = spec.period === "day" ? PERIOD_DAY : spec.period === "month" ? PERIOD_MONTH : PERIOD_BILLING;
      return { ...base, kind: KIND_PERIOD, maxCost: spec.limit, a: code, b: spec.anchorDay ?? 1 };
    }
    case "rate":
      if (spec.algorithm === "slidingWindow") return { ...base, kind: KIND_SLIDING, maxCost: spec.limit, a: spec.periodMs, b: 0 };
      return { ...base, kind: KIND_GCRA, maxCost: spec.burst ?? spec.limit, a: spec.periodMs, b: spec.burst ?? spec.limit };
  }
}

/** Plan limits with a workspace's overrides applied (an override replaces the whole limit). */
export function effectiveLimits(plan: Plan, overrides: Plan | undefined): Plan {
  return overrides === undefined ? plan : { ...plan, ...overrides };
}
