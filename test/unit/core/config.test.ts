import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, loadConfig } from "../../../src/core/config.js";

describe("loadConfig", () => {
  it("returns the embedded defaults when nothing is set", () => {
    const config = loadConfig({ PATH: "/usr/bin", HOME: "/root" })._unsafeUnwrap();
    expect(config.redisUrl).toBeUndefined();
    expect(config.databaseUrl).toBeUndefined();
    expect(config.logLevel).toBe("info");
    expect(config.redisTimeoutMs).toBe(50);
  });

  it("reads valid values", () => {
    const config = loadConfig({
      TENANCY_REDIS_URL: "redis://127.0.0.1:6379/0",
      TENANCY_DATABASE_URL: "postgres://app@db/dittofeed",
      TENANCY_LOG_LEVEL: "DEBUG",
      TENANCY_REDIS_TIMEOUT_MS: "75",
      TENANCY_QUOTA_PLANS: '{"free":{}}',
    })._unsafeUnwrap();
    expect(config).toMatchObject({
      redisUrl: "redis://127.0.0.1:6379/0",
      databaseUrl: "postgres://app@db/dittofeed",
      logLevel: "debug",
      redisTimeoutMs: 75,
      quotaPlans: { free: {} },
    });
  });

  it("treats empty values as unset", () => {
    expect(loadConfig({ TENANCY_REDIS_URL: "" })._unsafeUnwrap().redisUrl).toBeUndefined();
  });

  it("lists every bad variable at once, with reasons, and never throws", () => {
    const result = loadConfig({
      TENANCY_REDIS_URL: "http://example",
      TENANCY_DATABASE_URL: "not a url",
      TENANCY_LOG_LEVEL: "loud",
      TENANCY_REDIS_TIMEOUT_MS: "NaN",
      TENANCY_QUOTA_PLANS: "{oops",
      TENANCY_METRICS_TOP_K: "0",
    });
    const error = result._unsafeUnwrapErr();
    expect(error.type).toBe("InvalidConfig");
    expect(error.problems.map((p) => p.variable).sort()).toEqual(
      [
        "TENANCY_DATABASE_URL",
        "TENANCY_LOG_LEVEL",
        "TENANCY_METRICS_TOP_K",
        "TENANCY_QUOTA_PLANS",
        "TENANCY_REDIS_TIMEOUT_MS",
        "TENANCY_REDIS_URL",
      ].sort(),
    );
    expect(error.problems.find((p) => p.variable === "TENANCY_REDIS_URL")?.reason).toMatch(/protocol http:/);
    expect(error.problems.find((p) => p.variable === "TENANCY_REDIS_TIMEOUT_MS")?.reason).toMatch(/whole number/);
    expect(error.message).toMatch(/TENANCY_LOG_LEVEL/);
  });

  it("reports unknown TENANCY_* names as likely typos with a suggestion", () => {
    const error = loadConfig({ TENANCY_REDIS_URI: "redis://x", TENANCY_FOO: "1" })._unsafeUnwrapErr();
    expect(error.problems).toContainEqual({
      variable: "TENANCY_REDIS_URI",
      reason: expect.stringMatching(/typo; did you mean TENANCY_REDIS_URL/) as unknown as string,
    });
    expect(error.problems.find((p) => p.variable === "TENANCY_FOO")?.reason).toMatch(/unknown variable/);
  });

  it("ignores TENANCY_TEST_* (the test setup's own variables)", () => {
    expect(loadConfig({ TENANCY_TEST_DATABASE_URL: "postgres://x" }).isOk()).toBe(true);
  });

  it("documents every variable", () => {
    for (const spec of Object.values(CONFIG_VARIABLES)) {
      expect(spec.name).toMatch(/^TENANCY_[A-Z0-9_]+$/);
      expect(spec.description.length).toBeGreaterThan(10);
    }
  });
  it("refuses Redis URLs a client would throw on, and keeps Postgres socket URLs", () => {
    for (const bad of ["redis:myhost:6380", "  redis://h:6380  ", "redis://", "redis:///0"]) {
      const error = loadConfig({ TENANCY_REDIS_URL: bad })._unsafeUnwrapErr();
      expect(error.type).toBe("InvalidConfig");
      expect(error.message).toContain("TENANCY_REDIS_URL");
    }
    expect(loadConfig({ TENANCY_DATABASE_URL: "postgres:///dittofeed?host=/var/run/postgresql" }).isOk()).toBe(true);
  });
});
