import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import type { Decision, Plan } from "../../../src/quota/types.js";
import { whenReady } from "../../support/redis-clients.js";
import { startRedis } from "../../support/redis-server.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";

const PLAN: Plan = {
  openLimit: { kind: "period", period: "month", limit: 10, onStoreFailure: "open" },
  closedLimit: { kind: "period", period: "month", limit: 10, onStoreFailure: "closed" },
  localLimit: { kind: "period", period: "month", limit: 3, onStoreFailure: "local" },
};
/**
 * Long enough that a healthy call never times out on a loaded 2-core CI machine (the exact phases
 * below must not see a degraded decision: a timed-out call may still have been applied by Redis),
 * and still far below the ~10 s ioredis stalls for on its own.
 */
const TIMEOUT_MS = 250;
/** The timeout plus generous scheduling slack on a shared 2-core machine. */
const SETTLE_BOUND_MS = 1_500;

async function timed(guard: QuotaGuard, workspaceId: string, limit: string): Promise<{ decision: Decision; ms: number }> {
  const started = performance.now();
  const result = await guard.consume({ workspaceId, limit });
  const ms = performance.now() - started;
  expect(result.isOk()).toBe(true);
  return { decision: result._unsafeUnwrap(), ms };
}

/** Consumes until denied; returns how many were allowed (all must be exact, not degraded). */
async function drain(guard: QuotaGuard, workspaceId: string, limit: string): Promise<number> {
  for (let allowed = 0; ; allowed++) {
    const { decision } = await timed(guard, workspaceId, limit);
    expect(decision.degraded).toBe(false);
    if (!decision.allowed) return allowed;
  }
}

async function untilExact(guard: QuotaGuard, workspaceId: string): Promise<void> {
  // The guard recovers by itself: its breaker half-opens and the next call goes to Redis.
  for (let i = 0; i < 200; i++) {
    const d = await guard.check({ workspaceId, limit: "openLimit" });
    if (d.isOk() && !d.value.degraded) return;
    await sleep(50);
  }
  throw new Error("guard did not recover within 10 s");
}

describe("Redis failures: every decision settles within the timeout by the limit's policy", () => {
  it("Redis stopped mid-run, then restarted: fail-open, fail-closed, local fallback, then exact again", async () => {
    const server = await startRedis();
    const client = new Redis(server.url, { autoResendUnfulfilledCommands: false, retryStrategy: () => 50 });
    client.on("error", () => undefined);
    await whenReady(client);
    const guard = new QuotaGuard({ store: new RedisQuotaStore({ client, timeoutMs: TIMEOUT_MS }), breakerMs: 200, policies: { plans: { p: PLAN }, defaultPlan: "p" } });
    const workspaceId = randomUUID();
    expect((await timed(guard, workspaceId, "localLimit")).decision).toMatchObject({ allowed: true, degraded: false, remaining: 2 });

    await server.stop({ crash: true });
    const local: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      for (const limit of ["openLimit", "closedLimit", "localLimit"]) {
        const { decision, ms } = await timed(guard, workspaceId, limit);
        expect(ms).toBeLessThan(SETTLE_BOUND_MS);
        expect(decision.degraded).toBe(true);
        if (limit === "openLimit") expect(decision.allowed).toBe(true);
        if (limit === "closedLimit") expect(decision).toMatchObject({ allowed: false, reason: { limit: "closedLimit" } });
        if (limit === "localLimit") local.push(decision.allowed);
      }
    }
    // The local fallback enforces the limit in-process: 3 allowed, then denied.
    expect(local).toEqual([true, true, true, false, false, false, false, false, false, false]);

    await server.restart();
    await whenReady(client);
    await untilExact(guard, workspaceId);
    // A restarted Redis without persistence starts empty: exactly the limit is granted again.
    expect(await drain(guard, workspaceId, "localLimit")).toBe(3);
    expect(await drain(guard, workspaceId, "closedLimit")).toBe(10);
    client.disconnect();
    await server.stop();
  });

  it("Redis blackholed (connection open, nothing forwarded): settles in time, then no double counting", async () => {
    const server = await startRedis();
    const proxy = await startTcpProxy(server.port);
    const client = new Redis(proxy.port, "127.0.0.1", { autoResendUnfulfilledCommands: false, retryStrategy: () => 50 });
    client.on("error", () => undefined);
    await whenReady(client);
    const guard = new QuotaGuard({ store: new RedisQuotaStore({ client, timeoutMs: TIMEOUT_MS }), breakerMs: 200, policies: { plans: { p: PLAN }, defaultPlan: "p" } });
    const workspaceId = randomUUID();
    for (let i = 0; i < 3; i++) expect((await timed(guard, workspaceId, "closedLimit")).decision.allowed).toBe(true);

    proxy.blackhole(true);
    const started = performance.now();
    const during = await Promise.all(
      Array.from({ length: 30 }, (_, i) => guard.consume({ workspaceId, limit: i % 2 === 0 ? "openLimit" : "closedLimit" })),
    );
    expect(performance.now() - started).toBeLessThan(SETTLE_BOUND_MS);
    during.forEach((r, i) => expect(r._unsafeUnwrap()).toMatchObject({ degraded: true, allowed: i % 2 === 0 }));
    // More calls while the breaker is open answer at once, without touching Redis.
    for (let i = 0; i < 10; i++) {
      const { decision, ms } = await timed(guard, workspaceId, "openLimit");
      expect(ms).toBeLessThan(SETTLE_BOUND_MS);
      expect(decision).toMatchObject({ degraded: true, allowed: true });
    }

    proxy.blackhole(false);
    await untilExact(guard, workspaceId);
    // The calls in flight during the blackhole were never applied or replayed: 3 used, 7 left, exactly.
    expect(await drain(guard, workspaceId, "closedLimit")).toBe(7);
    expect(await drain(guard, workspaceId, "openLimit")).toBe(10);
    client.disconnect();
    await proxy.close();
    await server.stop();
  });
});
