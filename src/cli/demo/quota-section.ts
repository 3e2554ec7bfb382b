import { ManualClock } from "../../core/clock.js";
import { QuotaGuard, rateLimitHeaders, type Decision, type NearLimitEvent, type Plan } from "../../quota/index.js";
import type { DemoContext } from "./context.js";

const PLANS: Readonly<Record<string, Plan>> = {
  agency: {
    segments: { kind: "count", limit: 6 },
    messagesPerMonth: { kind: "period", period: "month", limit: 1_000 },
  },
  starter: {
    segments: { kind: "count", limit: 4 },
    journeys: { kind: "count", limit: 2, reservationTtlMs: 30_000 },
    messagesPerMonth: { kind: "period", period: "billingMonth", anchorDay: 31, limit: 600 },
    ingestRate: { kind: "rate", limit: 100, periodMs: 1_000, burst: 20 },
    exports: { kind: "concurrency", limit: 1, leaseTtlMs: 60_000 },
    newLimit: { kind: "count", limit: 1, shadow: true },
  },
};

function verdict(d: Decision): string {
  if (d.allowed) return `allowed (remaining ${d.remaining}${d.shadowDenied ? ", a shadow limit would have denied" : ""})`;
  const who = d.reason?.scope === "parent" ? "parent's" : "own";
  return `denied by ${who} ${d.reason?.limit ?? "?"} (retry after ${d.retryAfterMs} ms)`;
}

/** QuotaGuard on the embedded memory store: plans, parent aggregates, periods, rates, leases. */
export async function quotaSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("quota: per-workspace quotas, rate and concurrency limits");
  const clock = new ManualClock(Date.UTC(2026, 1, 20, 9, 30));
  const alerts: NearLimitEvent[] = [];
  const guard = new QuotaGuard({
    clock,
    onNearLimit: (e) => alerts.push(e),
    policies: {
      plans: PLANS,
      defaultPlan: "starter",
      workspaces: {
        [workspaces.parent]: { plan: "agency" },
        [workspaces.child]: { parentWorkspaceId: workspaces.parent },
        [workspaces.other]: { overrides: { segments: { kind: "count", limit: 2 } } },
      },
    },
  });
  const name = (id: string) => names[id as keyof typeof names] ?? id;

  report.line("segments: the child is held to its own limit (4) and the agency's aggregate (6), all-or-nothing");
  const rows: (string | number)[][] = [["workspace", "request", "decision"]];
  for (const [ws, n] of [[workspaces.parent, 3], [workspaces.child, 2], [workspaces.child, 2], [workspaces.other, 2], [workspaces.other, 1]] as const) {
    const d = (await guard.consume({ workspaceId: ws, limit: "segments", cost: n }))._unsafeUnwrap();
    rows.push([name(ws), `create ${n} segments`, verdict(d)]);
  }
  report.table(rows);

  report.line("journeys: reserve before creating, commit or release; an abandoned reservation expires");
  const r1 = (await guard.reserve({ workspaceId: workspaces.other, limit: "journeys" }))._unsafeUnwrap();
  await guard.commit({ reservation: r1.reservation! });
  const r2 = (await guard.reserve({ workspaceId: workspaces.other, limit: "journeys" }))._unsafeUnwrap();
  const full = (await guard.check({ workspaceId: workspaces.other, limit: "journeys" }))._unsafeUnwrap();
  report.line(`  committed 1, holding 1 (never committed): a third is ${verdict(full)}`);
  clock.advance(31_000);
  const after = (await guard.check({ workspaceId: workspaces.other, limit: "journeys" }))._unsafeUnwrap();
  report.line(`  31 s later the abandoned hold (${r2.reservation!.id.slice(0, 8)}…) has expired: ${verdict(after)}`);

  const billing = (await guard.consume({ workspaceId: workspaces.other, limit: "messagesPerMonth", cost: 500 }))._unsafeUnwrap();
  report.line(`messages: 500 of 600 this billing month (anchored on the 31st, so February's ends ${new Date(billing.resetAt).toISOString()})`);
  report.line(`  near-limit alert at 80%: ${alerts.map((a) => `${name(a.workspaceId)} ${a.limit} ${a.remaining}/${a.max} left`).join("; ")}`);

  let allowed = 0;
  let last: Decision | undefined;
  for (let i = 0; i < 25; i++) {
    last = (await guard.consume({ workspaceId: workspaces.other, limit: "ingestRate" }))._unsafeUnwrap();
    if (last.allowed) allowed++;
  }
  report.line(`ingestion (GCRA, 100/s, burst 20): 25 calls at once -> ${allowed} allowed; the next:`);
  for (const [k, v] of Object.entries(rateLimitHeaders(last!, { now: clock.now() }))) report.line(`  ${k}: ${v}`);

  const lease = (await guard.acquire({ workspaceId: workspaces.other, limit: "exports" }))._unsafeUnwrap();
  const second = (await guard.acquire({ workspaceId: workspaces.other, limit: "exports" }))._unsafeUnwrap();
  await guard.release({ reservation: lease.reservation! });
  const third = (await guard.acquire({ workspaceId: workspaces.other, limit: "exports" }))._unsafeUnwrap();
  report.line(`exports (concurrency 1): first lease allowed, second ${second.allowed ? "allowed" : "denied"}, after release ${third.allowed ? "allowed" : "denied"}`);

  await guard.consume({ workspaceId: workspaces.other, limit: "newLimit" });
  const shadow = (await guard.consume({ workspaceId: workspaces.other, limit: "newLimit" }))._unsafeUnwrap();
  report.line(`a new limit in shadow mode: ${verdict(shadow)}`);

  report.line("bad input is a typed error, never an exception, never a partial consumption:");
  for (const [label, request] of [
    ["cost NaN", { workspaceId: workspaces.other, limit: "messagesPerMonth", cost: Number.NaN }],
    ["cost 1.5", { workspaceId: workspaces.other, limit: "messagesPerMonth", cost: 1.5 }],
    ["unknown limit", { workspaceId: workspaces.other, limit: "smsPerDay" }],
    ["cost above the limit", { workspaceId: workspaces.other, limit: "segments", cost: 99 }],
    ["malformed id", { workspaceId: "ws-42", limit: "segments" }],
  ] as const) {
    const r = await guard.consume(request);
    report.line(`  ${label}: ${r.isErr() ? r.error.type : "accepted?!"}`);
  }
}
