import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, LOG_LEVELS, loadConfig } from "../../../src/core/index.js";
import { policiesFromEnv } from "../../../src/quota/index.js";
import { expectErrIff, expectTypedErr, hostile, nonString, nonStringDefined, noProto, show, str, throwingToString, type Tagged, W } from "./hostile-values.js";

type VarSpec = { readonly valid: fc.Arbitrary<string>; readonly invalid?: fc.Arbitrary<string> };
const intString = (min: number, max: number) => fc.integer({ min, max }).map(String);
const hugeJson = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `plan-${i}` })));
const VARS: Record<string, VarSpec> = {
  TENANCY_REDIS_URL: {
    valid: fc.constantFrom("redis://localhost:6379", "rediss://u:p@cache.internal:6380/2", "redis://[::1]:6379/0"),
    invalid: fc.constantFrom("http://localhost:6379", "localhost:6379", "redis", "postgres://h/db"),
  },
  TENANCY_DATABASE_URL: {
    valid: fc.constantFrom("postgres://u:p@localhost:5432/app", "postgresql://db.internal/app?sslmode=require"),
    invalid: fc.constantFrom("mysql://h/db", "redis://h", "not a url"),
  },
  TENANCY_LOG_LEVEL: { valid: fc.mixedCase(fc.constantFrom(...LOG_LEVELS)), invalid: fc.constantFrom("verbose", "warning", "in fo", "0") },
  TENANCY_REDIS_TIMEOUT_MS: { valid: fc.oneof(intString(1, 60_000), fc.constant("007")), invalid: fc.constantFrom("0", "60001", "1.5", "1e3", "+5", " 5", "abc", "-1") },
  TENANCY_QUOTA_PLANS: {
    valid: fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.constantFrom(hugeJson, `${"[".repeat(20_000)}${"]".repeat(20_000)}`, '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}'),
    ),
    invalid: fc.constantFrom("{", "{'a': 1}", "NaN", "undefined", "[1,]", '{"a":1}}', hugeJson.slice(0, -1)),
  },
  TENANCY_ROOT_KEYS: { valid: fc.string({ minLength: 1, maxLength: 40 }) },
  TENANCY_AUDIT_SIGNING_KEY: { valid: fc.string({ minLength: 1, maxLength: 40 }) },
  TENANCY_METRICS_TOP_K: { valid: intString(1, 100_000), invalid: fc.constantFrom("0", "100001", "ten") },
  TENANCY_METRICS_MAX_WORKSPACES: { valid: intString(1, 50_000_000), invalid: fc.constantFrom("0", "50000001", "1_000") },
  TENANCY_METRICS_IDLE_TTL_MS: { valid: intString(0, 2_147_483_647), invalid: fc.constantFrom("-1", "2147483648", "1.0") },
};
const KNOWN = new Set(Object.values(CONFIG_VARIABLES).map((v) => v.name));

const varValue = (spec: VarSpec): fc.Arbitrary<Tagged> =>
  fc.oneof(
    { weight: 6, arbitrary: spec.valid.map((v) => ({ v, bad: false })) },
    // Empty and undefined count as unset.
    { weight: 1, arbitrary: fc.constantFrom("", undefined).map((v) => ({ v, bad: false })) },
    { weight: 2, arbitrary: (spec.invalid ?? nonStringDefined).map((v) => ({ v, bad: true })) },
    // A value of another type (a number from a parsed YAML file, null, an object) is a bad value too.
    { weight: 2, arbitrary: nonStringDefined.map((v) => ({ v, bad: true })) },
  );
const envInput = fc.record({
  known: fc.record(Object.fromEntries(Object.entries(VARS).map(([name, spec]) => [name, varValue(spec)])), { requiredKeys: [] }),
  unknown: fc.array(fc.oneof(fc.constantFrom("TENANCY_REDIS_URI", "TENANCY_LOGLEVEL", "TENANCY_", "TENANCY_ROOT_KEY"), fc.string({ maxLength: 12 }).map((s) => `TENANCY_${s}`)), { maxLength: 2 }),
  ignored: fc.array(fc.tuple(fc.oneof(fc.constantFrom("__proto__", "constructor", "prototype", "toString", "TENANCY_TEST_X", "PATH", "tenancy_redis_url"), fc.string({ maxLength: 12 })), hostile), { maxLength: 4 }),
});

describe("loadConfig and TENANCY_QUOTA_PLANS", () => {
  it("hostile env objects: Err listing exactly the bad variables, Ok with well-typed values otherwise, and no prototype pollution", () => {
    const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).join();
    fc.assert(
      fc.property(envInput, ({ known: partial, unknown, ignored }) => {
        const known = partial as Record<string, Tagged>;
        const unknownNames = unknown.filter((n) => !KNOWN.has(n) && !n.startsWith("TENANCY_TEST_"));
        const ignoredEntries = ignored.filter(([k]) => !k.startsWith("TENANCY_") || k.startsWith("TENANCY_TEST_"));
        // fromEntries defines own properties, so "__proto__" is a key like any other here.
        const env = Object.fromEntries([...ignoredEntries, ...unknownNames.map((n) => [n, "x"]), ...Object.entries(known).map(([n, t]) => [n, t.v])]) as Record<string, string>;
        const expectedBad = [...new Set([...Object.entries(known).filter(([, t]) => t.bad).map(([n]) => n), ...unknownNames])].sort();
        const what = `loadConfig(${str(env)})`;
        let result: ReturnType<typeof loadConfig>;
        try {
          result = loadConfig(env);
        } catch (thrown) {
          throw new Error(`${what} threw: ${show(thrown)}`);
        }
        expectErrIff(result, expectedBad.length > 0, what);
        if (result.isErr()) {
          expect(result.error.type).toBe("InvalidConfig");
          // Every bad variable at once, each once, and nothing else.
          expect(result.error.problems.map((p) => p.variable).sort(), what).toEqual(expectedBad);
        } else {
          const c = result.value;
          for (const v of [c.redisUrl, c.databaseUrl, c.rootKeys, c.auditSigningKey]) expect(v === undefined || typeof v === "string", `${what}: string or unset`).toBe(true);
          expect(LOG_LEVELS).toContain(c.logLevel);
          for (const n of [c.redisTimeoutMs, c.metricsTopK, c.metricsMaxWorkspaces, c.metricsIdleTtlMs]) expect(Number.isSafeInteger(n), `${what}: integer`).toBe(true);
        }
        expect(Object.getOwnPropertyNames(Object.prototype).join(), "Object.prototype untouched").toBe(prototypeKeys);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("policiesFromEnv with hostile plan names and limit values: Err exactly for bad input (an inherited property is no plan)", () => {
    const planName = fc.oneof(fc.constant("free"), fc.constantFrom("pro", "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"), nonString);
    const kind = fc.oneof(fc.constantFrom("count", "concurrency"), fc.constantFrom("rate ", "COUNT", ""), nonString);
    const limit = fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.constantFrom(0, -1, 1.5, NaN, Infinity, 2 ** 48, "5"), nonString);
    fc.assert(
      fc.property(planName, fc.option(planName, { nil: undefined }), kind, limit, fc.boolean(), (defaultPlan, assigned, k, l, asJson) => {
        const config = {
          plans: { free: { calls: { kind: k, limit: l } } },
          defaultPlan,
          ...(assigned === undefined ? {} : { workspaces: { [W]: { plan: assigned } } }),
        };
        const isPlan = (n: unknown) => typeof n === "string" && Object.hasOwn(config.plans, n);
        const bad =
          !isPlan(defaultPlan) || (assigned !== undefined && !isPlan(assigned)) || (k !== "count" && k !== "concurrency") ||
          typeof l !== "number" || !Number.isInteger(l) || l < 1 || l > 2 ** 47;
        let input: unknown = config;
        if (asJson) {
          try {
            input = JSON.stringify(config);
          } catch {
            // BigInts have no JSON form: pass the object itself.
          }
        }
        const what = `policiesFromEnv(${str(input)})`;
        let result: ReturnType<typeof policiesFromEnv>;
        try {
          result = policiesFromEnv(input);
        } catch (thrown) {
          throw new Error(`${what} threw: ${show(thrown)}`);
        }
        // JSON drops undefined and functions, and turns NaN into null: judge what the parser will see.
        const seen = typeof input === "string" ? (JSON.parse(input) as typeof config) : config;
        const badSeen =
          typeof input === "string"
            ? !isPlan(seen.defaultPlan) || (seen.workspaces?.[W]?.plan !== undefined && !isPlan(seen.workspaces[W].plan)) ||
              (seen.plans.free.calls.kind !== "count" && seen.plans.free.calls.kind !== "concurrency") ||
              typeof seen.plans.free.calls.limit !== "number" || !Number.isInteger(seen.plans.free.calls.limit) || seen.plans.free.calls.limit < 1 || seen.plans.free.calls.limit > 2 ** 47
            : bad;
        expectErrIff(result, badSeen, what);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("quota plans: an inherited property is no plan, and values of any type are described", () => {
    for (const defaultPlan of ["toString", "__proto__", "constructor"]) {
      expectTypedErr(policiesFromEnv({ plans: { free: {} }, defaultPlan }), `defaultPlan ${defaultPlan}`, ["PolicyUnavailable"]);
    }
    expectTypedErr(policiesFromEnv(`{"plans":{"free":{}},"defaultPlan":"free","workspaces":{"${W}":{"plan":"hasOwnProperty"}}}`), "workspace plan", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: {} }, defaultPlan: 1n }), "bigint defaultPlan", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: { x: { kind: noProto(), limit: 1 } } }, defaultPlan: "free" }), "kind", ["PolicyUnavailable"]);
    expectTypedErr(policiesFromEnv({ plans: { free: { x: { kind: "count", limit: throwingToString() } } }, defaultPlan: "free" }), "limit", ["PolicyUnavailable"]);
  });

  it("loadConfig: a value that is not a string is a problem of its variable (it threw, or reached the config as a number)", () => {
    for (const [name, value] of [
      ["TENANCY_LOG_LEVEL", 5],
      ["TENANCY_ROOT_KEYS", 5],
      ["TENANCY_METRICS_MAX_WORKSPACES", Object.create(null)],
      ["TENANCY_REDIS_TIMEOUT_MS", null],
      ["TENANCY_QUOTA_PLANS", { plans: {} }],
    ] as const) {
      const result = loadConfig({ [name]: value as never });
      expectTypedErr(result, name, ["InvalidConfig"]);
      if (result.isErr()) expect(result.error.problems.map((p) => p.variable)).toEqual([name]);
    }
  });
});
