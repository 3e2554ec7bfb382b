import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { TenantMetrics, UsageFlusher } from "../../../src/metrics/index.js";
import { runUsageCommand } from "../../../src/metrics/usage-command.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const free = randomUUID();
const pro = randomUUID();
const unplanned = randomUUID();
let plansFile: string;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_metrics_cli");
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 9));
  const metrics = new TenantMetrics({ clock });
  metrics.counter("messages_sent");
  metrics.counter("events_ingested");
  const flusher = new UsageFlusher(metrics, { db: pool });
  expect((await flusher.migrate()).isOk()).toBe(true);
  metrics.add({ workspaceId: free, metric: "messages_sent", value: 1_200 });
  metrics.add({ workspaceId: pro, metric: "messages_sent", value: 4_000 });
  metrics.add({ workspaceId: pro, metric: "events_ingested", value: 10 });
  metrics.add({ workspaceId: unplanned, metric: "messages_sent", value: 3 });
  expect((await flusher.flush()).isOk()).toBe(true);
  clock.advance(3_600_000);
  metrics.add({ workspaceId: free, metric: "messages_sent", value: 300 });
  expect((await flusher.flush()).isOk()).toBe(true);
  plansFile = join(mkdtempSync(join(tmpdir(), "tk-plans-")), "plans.json");
  writeFileSync(
    plansFile,
    JSON.stringify({
      plans: { free: { messages_sent: 1_000 }, pro: { messages_sent: 100_000, events_ingested: 1_000_000 } },
      workspaces: { [free]: "free", [pro]: "pro" },
    }),
  );
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runUsageCommand(args, {
    out: (t) => (out += t),
    errOut: (t) => (err += t),
    env: {},
    now: () => new Date(Date.UTC(2026, 10, 27, 23)),
  });
  return { code, out, err };
}

describe("tenancykit usage", () => {
  it("prints per-workspace usage summed over the period", async () => {
    const { code, out } = await run(["--database-url", database.url]);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`${free}\\s+messages_sent\\s+1,500`));
    expect(out).toMatch(new RegExp(`${pro}\\s+messages_sent\\s+4,000`));
    expect(out).not.toContain("limit");
  });

  it("with --plans, shows usage against limits and marks workspaces over their plan", async () => {
    const { code, out } = await run(["--database-url", database.url, "--plans", plansFile]);
    expect(code).toBe(0);
    const lines = out.trim().split("\n");
    expect(lines[1]).toMatch(/^workspace\s+metric\s+used\s+plan\s+limit\s+use/);
    expect(lines[2]).toMatch(new RegExp(`^${free}\\s+messages_sent\\s+1,500\\s+free\\s+1,000\\s+150%\\s+OVER$`));
    expect(out).toMatch(new RegExp(`${pro}\\s+messages_sent\\s+4,000\\s+pro\\s+100,000\\s+4%\\s*\\n`));
    expect(out).toMatch(new RegExp(`${unplanned}\\s+messages_sent\\s+3\\s+-\\s+-\\s+-`));
  });

  it("honours --since/--until and --json", async () => {
    const { out } = await run(["--database-url", database.url, "--since", "2026-11-27T10:00:00Z", "--json"]);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { workspaceId: string; value: number });
    expect(lines).toEqual([{ workspaceId: free, metric: "messages_sent", value: 300 }]);
  });

  it("rejects a bad plans file with every problem listed, and a missing database", async () => {
    const bad = join(mkdtempSync(join(tmpdir(), "tk-plans-")), "bad.json");
    writeFileSync(bad, JSON.stringify({ plans: { free: { messages_sent: -1 } }, workspaces: { "not-a-uuid": "free", [pro]: "gold" } }));
    const result = await run(["--database-url", database.url, "--plans", bad]);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/limit must be a number ≥ 0/);
    expect(result.err).toMatch(/invalid workspace id/);
    expect(result.err).toMatch(/unknown plan "gold"/);
    const none = await run([]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no database/);
  });

  it("says what is wrong with the environment, and refuses a --pglite directory that holds no database", async () => {
    let err = "";
    const io = { out: () => undefined, errOut: (t: string) => (err += t), now: () => new Date() };
    const code = await runUsageCommand([], { ...io, env: { TENANCY_DATABASE_URL: database.url, TENANCY_REDIS_URI: "redis://x" } });
    expect(code).toBe(1);
    expect(err).toMatch(/TENANCY_REDIS_URI/);
    expect(err).not.toMatch(/no database/);
    err = "";
    const missing = join(mkdtempSync(join(tmpdir(), "tk-pglite-")), "typo");
    expect(await runUsageCommand(["--pglite", missing], { ...io, env: {} })).toBe(1);
    expect(err).toMatch(/not a PGlite database directory/);
    expect(existsSync(missing)).toBe(false);
  });

  it("runs as the real CLI binary", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "usage", "--database-url", database.url, "--plans", plansFile, "--since", "2026-11-27T00:00:00Z", "--until", "2026-11-28T00:00:00Z"],
      { env: { ...process.env, TENANCY_DATABASE_URL: "" } },
    );
    expect(stdout).toMatch(/OVER/);
  });
});
