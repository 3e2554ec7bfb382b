import { randomUUID } from "node:crypto";
import { TenantMetrics } from "../../metrics/index.js";
import { buildUsageReport, formatUsageTable, parseUsagePlans, usageRowsFromSnapshot } from "../../metrics/usage-report.js";
import type { DemoContext } from "./context.js";

/** TenantMetrics: bound handles, top-K + exact __other__, Prometheus text, usage against plans. */
export async function metricsSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("metrics: per-workspace usage with bounded export");
  const metrics = new TenantMetrics({ topK: 2 });
  metrics.counter("messages_sent", { unit: "1", description: "messages sent" });
  metrics.histogram("send_latency_ms", { description: "provider latency" });
  const sink = metrics.sink(); // what quota/cache/crypto/audit report through

  const volume = { [workspaces.parent]: 40, [workspaces.child]: 1_250, [workspaces.other]: 300 };
  for (const [id, sent] of Object.entries(volume)) {
    const ws = metrics.workspace(id);
    if (ws.isErr()) continue;
    const counter = ws.value.counter("messages_sent"); // bound once: no allocation per add
    for (let i = 0; i < sent; i++) counter.add(1);
    ws.value.histogram("send_latency_ms").record(20 + (sent % 90));
    sink.add(ws.value.workspaceId, "quota_decisions_total", sent);
  }
  // A long tail of small workspaces: they must not become series of their own.
  for (let i = 0; i < 500; i++) metrics.add({ workspaceId: randomUUID(), metric: "messages_sent", value: 1 + (i % 3) });
  const truth = 40 + 1_250 + 300 + Array.from({ length: 500 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);

  const sent = metrics.collect().find((c) => c.metric.name === "messages_sent");
  if (sent?.kind === "scalar") {
    report.line(`503 workspaces sent ${truth} messages; exported with K = 2 (top 2 by value + __other__):`);
    report.table([
      ["series", "value"],
      ...sent.series.map((p) => [names[p.workspaceId as keyof typeof names] ?? p.workspaceId, p.value]),
      ["sum of series", sent.series.reduce((s, p) => s + p.value, 0)],
    ]);
  }
  const text = metrics.prometheus().split("\n").filter((l) => l.startsWith("messages_sent{"));
  report.line("Prometheus text (one label name, workspace_id):");
  for (const line of text) report.line(`  ${line}`);

  const bad = metrics.add({ workspaceId: workspaces.child, metric: "messages_sent", value: -5 });
  report.line(`a negative increment is a typed error: ${bad.isErr() ? `${bad.error.type}: ${bad.error.message}` : "accepted?!"}`);
  const typo = metrics.add({ workspaceId: workspaces.child, metric: "mesages_sent", value: 1 });
  report.line(`an undeclared metric too: ${typo.isErr() ? typo.error.type : "accepted?!"}`);

  const plans = parseUsagePlans({
    plans: { starter: { messages_sent: 1_000 }, agency: { messages_sent: 100_000 } },
    workspaces: { [workspaces.parent]: "agency", [workspaces.child]: "starter", [workspaces.other]: "starter" },
  });
  if (plans.isOk()) {
    const named = usageRowsFromSnapshot(metrics.snapshot()).filter((r) => r.workspaceId in names && r.metric === "messages_sent");
    report.line("exact usage against plan limits (what `tenancykit usage --plans plans.json` prints from Postgres):");
    for (const line of formatUsageTable(buildUsageReport(named, plans.value), true).trimEnd().split("\n")) report.line(`  ${line}`);
  }
}
