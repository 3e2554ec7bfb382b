import type { TenancyReport } from "./check.js";

/** A plain-text rendering of a catalog report, grouped by finding type (for the CLI and logs). */
export function formatReport(report: TenancyReport): string {
  const lines = [
    `tenant tables: ${report.tenantTables.length}; reviewed global tables: ${report.globalTables.length}; findings: ${report.findings.length}`,
  ];
  const byType = new Map<string, string[]>();
  for (const f of report.findings) {
    const list = byType.get(f.type) ?? [];
    list.push(f.message);
    byType.set(f.type, list);
  }
  for (const [type, messages] of byType) {
    lines.push(`${type} (${messages.length})`);
    for (const message of messages) lines.push(`  ${message}`);
  }
  if (report.ok) lines.push("ok: no tenancy gaps found");
  return `${lines.join("\n")}\n`;
}
