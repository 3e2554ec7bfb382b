import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import { clusterClient, redisClient, whenReady } from "../../support/redis-clients.js";

const CHILD = fileURLToPath(new URL("./over-admission-child.ts", import.meta.url));
const PROCESSES = 8;
const CALLERS = 1_000;
const LIMIT = 10_000;

interface ChildResult {
  admitted: number;
  admittedCalls: number;
  minDenied: number | null;
  degraded: number;
  errorCount: number;
  errors: string[];
  stats?: { localDecisions: number; leaseCalls: number; refundCalls: number; heldUnits: number; returnedUnits: number };
}

/** Starts the processes, waits until every one is connected, then releases them together. */
async function race(target: string, workspaceId: string, mode: "strict" | "leased"): Promise<ChildResult[]> {
  const children = Array.from({ length: PROCESSES }, (_, i) =>
    spawn(process.execPath, ["--import", "tsx", CHILD, target, workspaceId, String(LIMIT), String(CALLERS), String(1000 + i * 7919), mode], {
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  const outputs = children.map((child) => {
    let out = "";
    let errText = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (errText += c.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      const check = () => (out.includes("ready\n") ? resolve() : undefined);
      child.stdout.on("data", check);
      child.on("exit", (code) => reject(new Error(`child exited ${code} before ready: ${errText}`)));
    });
    const done = new Promise<ChildResult>((resolve, reject) => {
      child.on("exit", (code) => {
        const line = out.split("\n").find((l) => l.startsWith("{"));
        if (code !== 0 || line === undefined) reject(new Error(`child exited ${code}: ${errText}\n${out}`));
        else resolve(JSON.parse(line) as ChildResult);
      });
    });
    return { ready, done };
  });
  await Promise.all(outputs.map((o) => o.ready));
  for (const child of children) child.stdin.end("go\n");
  return Promise.all(outputs.map((o) => o.done));
}

describe("zero over-admission: 8 OS processes x 1,000 concurrent callers, costs 1-5, one limit", () => {
  const servers = inject("servers");
  const redis = redisClient();
  const cluster = clusterClient();
  beforeAll(() => Promise.all([whenReady(redis), whenReady(cluster)]));
  afterAll(() => Promise.all([redis.quit(), cluster.quit()]));

  const targets = [
    ["single Redis", servers.redisUrl, () => redis],
    ["3-master cluster", `cluster:${servers.clusterNodes.map((n) => `${n.host}:${n.port}`).join(",")}`, () => cluster],
  ] as const;

  for (const [label, target, client] of targets) {
    for (const mode of ["strict", "leased"] as const) {
      it(`${label}, ${mode} mode`, async () => {
        const workspaceId = randomUUID();
        const results = await race(target, workspaceId, mode);
        const admitted = results.reduce((s, r) => s + r.admitted, 0);
        const denied = results.map((r) => r.minDenied).filter((c): c is number => c !== null);
        const minDenied = Math.min(...denied);
        // What Redis itself counted, read through a guard with the same limit.
        const guard = new QuotaGuard({
          store: new RedisQuotaStore({ client: client(), timeoutMs: 5_000 }),
          policies: { plans: { p: { credits: { kind: "period", period: "month", limit: LIMIT } } }, defaultPlan: "p" },
        });
        const state = (await guard.check({ workspaceId, limit: "credits" }))._unsafeUnwrap();
        const underAdmission = LIMIT - admitted;
        const leaseCalls = results.reduce((s, r) => s + (r.stats?.leaseCalls ?? 0), 0);
        const refundCalls = results.reduce((s, r) => s + (r.stats?.refundCalls ?? 0), 0);
        const decisions = PROCESSES * CALLERS;
        console.log(
          `[over-admission] ${label} ${mode}: admitted ${admitted}/${LIMIT}, remainder ${state.remaining}, smallest denied cost ${minDenied}, ` +
            `under-admission ${underAdmission}, store calls/decision ${mode === "leased" ? ((leaseCalls + refundCalls) / decisions).toFixed(3) : "1"}`,
        );
        expect(results.map((r) => r.errorCount)).toEqual(results.map(() => 0));
        expect(results.map((r) => r.degraded)).toEqual(results.map(() => 0));
        expect(admitted).toBeLessThanOrEqual(LIMIT);
        // Demand (about 24,000 units) exceeds the limit, so some calls were denied.
        expect(denied.length).toBeGreaterThan(0);
        // Redis counted exactly what was admitted (leases returned their unused units).
        expect(LIMIT - state.remaining).toBe(admitted);
        if (mode === "strict") expect(state.remaining).toBeLessThan(minDenied);
      });
    }
  }
});
