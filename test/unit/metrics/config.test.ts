import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/core/config.js";
import { metricsOptionsFromConfig, TenantMetrics } from "../../../src/metrics/index.js";

describe("configuration from TENANCY_METRICS_* variables", () => {
  it("reads K, capacity and idle TTL, with defaults when unset", () => {
    const defaults = metricsOptionsFromConfig(loadConfig({})._unsafeUnwrap());
    expect(defaults).toEqual({ topK: 100, maxWorkspaces: 100_000, idleTtlMs: 3_600_000 });
    const set = loadConfig({
      TENANCY_METRICS_TOP_K: "500",
      TENANCY_METRICS_MAX_WORKSPACES: "2000",
      TENANCY_METRICS_IDLE_TTL_MS: "0",
    })._unsafeUnwrap();
    const metrics = new TenantMetrics(metricsOptionsFromConfig(set));
    expect(metrics.options).toMatchObject({ topK: 500, maxWorkspaces: 2_000, idleTtlMs: 0 });
  });

  it("rejects bad values, every one listed", () => {
    const bad = loadConfig({ TENANCY_METRICS_TOP_K: "0", TENANCY_METRICS_MAX_WORKSPACES: "lots", TENANCY_METRICS_IDLE_TTL_MS: "-5" });
    expect(bad._unsafeUnwrapErr().problems.map((p) => p.variable).sort()).toEqual([
      "TENANCY_METRICS_IDLE_TTL_MS",
      "TENANCY_METRICS_MAX_WORKSPACES",
      "TENANCY_METRICS_TOP_K",
    ]);
  });
});
