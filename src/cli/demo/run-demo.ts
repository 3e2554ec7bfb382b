import { demoWorkspaces, type DemoContext, type DemoSection } from "./context.js";
import { coreSection } from "./core-section.js";
import { postgresSection } from "./postgres-section.js";
import { quotaSection } from "./quota-section.js";
import { cacheSection } from "./cache-section.js";
import { cryptoSection } from "./crypto-section.js";
import { auditSection } from "./audit-section.js";
import { metricsSection } from "./metrics-section.js";
import { DemoReport } from "./report.js";

/** The demo's sections in order; each primitive appends its own. */
const SECTIONS: readonly DemoSection[] = [
  coreSection,
  postgresSection,
  quotaSection,
  cacheSection,
  cryptoSection,
  auditSection,
  metricsSection,
];

/**
 * Runs the multi-workspace scenario on the embedded defaults (memory stores and
 * PGlite): no servers, no environment variables.
 */
export async function runDemo(write: (text: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const workspaces = demoWorkspaces();
  const context: DemoContext = {
    report: new DemoReport(write),
    workspaces,
    names: {
      [workspaces.parent]: "Acme Agency",
      [workspaces.child]: "Acme / Bakery client",
      [workspaces.other]: "Unrelated Co",
    },
  };
  write("tenancykit demo: three workspaces sharing one backend\n");
  for (const section of SECTIONS) await section(context);
  write("\ndemo finished\n");
}
