import { loadConfig } from "../../core/config.js";
import { parseWorkspaceId } from "../../core/workspace-id.js";
import type { DemoContext } from "./context.js";

/** Config loading and workspace ids: what every other section builds on. */
export async function coreSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("core: configuration and workspace ids");
  const config = loadConfig({});
  if (config.isOk()) {
    const { redisUrl, databaseUrl, logLevel, redisTimeoutMs } = config.value;
    report.line(`no TENANCY_* variables set -> embedded defaults:`);
    report.line(`  redis: ${redisUrl ?? "none (in-memory stores)"}, database: ${databaseUrl ?? "none (PGlite)"}`);
    report.line(`  log level ${logLevel}, redis timeout ${redisTimeoutMs} ms`);
  }
  const typo = loadConfig({ TENANCY_REDIS_URI: "redis://127.0.0.1:6379", TENANCY_LOG_LEVEL: "loud" });
  if (typo.isErr()) {
    report.line(`a misconfigured environment is rejected with every problem listed:`);
    for (const problem of typo.error.problems) report.line(`  ${problem.variable}: ${problem.reason}`);
  }
  report.line("workspaces in this scenario:");
  report.table([
    ["name", "workspace id", "family root"],
    [names[workspaces.parent] ?? "", workspaces.parent, "itself"],
    [names[workspaces.child] ?? "", workspaces.child, `${names[workspaces.parent] ?? ""} (parent)`],
    [names[workspaces.other] ?? "", workspaces.other, "itself"],
  ]);
  const upper = parseWorkspaceId(workspaces.other.toUpperCase());
  report.line(`an upper-case id is normalised: ${upper.isOk() ? upper.value : upper.error.message}`);
  const bad = parseWorkspaceId("workspace-1; DROP TABLE");
  report.line(`a bad id is a typed error: ${bad.isErr() ? `${bad.error.type}: ${bad.error.message}` : "accepted?!"}`);
}
