import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skewedClock, systemClock } from "../../../src/core/clock.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import type { Plan } from "../../../src/quota/types.js";
import { redisClient, whenReady } from "../../support/redis-clients.js";
import { commandCounts, dedicatedRedis } from "../../support/dedicated-redis.js";

const PLAN: Plan = {
  segments: { kind: "count", limit: 50 },
  messages: { kind: "period", period: "month", limit: 40 },
  ingest: { kind: "rate", limit: 30, periodMs: 3_600_000 },
  exports: { kind: "concurrency", limit: 3 },
};

// Redis counts commands a script runs as well, so the strict test also watches MONITOR,
// which tags script-issued commands with source "lua", to see what the client sent.
function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, calls] of after) if (calls !== (before.get(name) ?? 0)) out[name] = calls - (before.get(name) ?? 0);
  return out;
}

describe("commands per decision (INFO commandstats on a dedicated Redis)", () => {
  const redis = dedicatedRedis();

  it("strict mode: exactly one EVALSHA per decision, whatever the limits and hierarchy", async () => {
    const client = redis();
    const parent = randomUUID();
    const child = randomUUID();
    const guard = new QuotaGuard({
      store: new RedisQuotaStore({ client, timeoutMs: 2_000 }),
      policies: { plans: { p: PLAN }, defaultPlan: "p", workspaces: { [child]: { parentWorkspaceId: parent } } },
    });
    // Load each script once (the first call of a script may need EVAL after NOSCRIPT):
    // the minimal rate/period script and the general one (holds, reservations).
    await guard.consume({ workspaceId: child, limit: "ingest" });
    await guard.consume({ workspaceId: child, limits: [{ limit: "segments" }, { limit: "ingest" }] });
    const watcher = client.duplicate();
    const monitor = await watcher.monitor();
    const sent: Record<string, number> = {};
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (source !== "lua") sent[args[0]!.toLowerCase()] = (sent[args[0]!.toLowerCase()] ?? 0) + 1;
    });
    const before = await commandCounts(client);
    let decisions = 0;
    for (let i = 0; i < 25; i++) {
      // Four limits on the child and four on the parent: eight items, one decision.
      const d = await guard.consume({ workspaceId: child, limits: [{ limit: "segments" }, { limit: "messages" }, { limit: "ingest" }] });
      decisions++;
      expect(d.isOk()).toBe(true);
      // Rate and period limits only (child and parent): the minimal script, still one EVALSHA.
      const h = await guard.consume({ workspaceId: child, limits: [{ limit: "messages" }, { limit: "ingest" }] });
      decisions++;
      expect(h.isOk()).toBe(true);
      const r = await guard.reserve({ workspaceId: child, limits: [{ limit: "segments" }, { limit: "exports" }] });
      decisions++;
      if (r.isOk() && r.value.reservation !== undefined) {
        await guard.release({ reservation: r.value.reservation });
        decisions++;
      }
    }
    const used = delta(before, await commandCounts(client));
    await new Promise((resolve) => setTimeout(resolve, 200));
    monitor.disconnect();
    watcher.disconnect();
    delete sent.info;
    console.log(`[commandstats] strict: ${decisions} decisions -> client sent ${JSON.stringify(sent)}; commandstats ${JSON.stringify(used)}`);
    // One EVALSHA per decision, no EVAL, and one TIME (inside the script) per decision.
    expect(used.evalsha).toBe(decisions);
    expect(used.eval).toBe(undefined);
    expect(used.time).toBe(decisions);
    expect(sent).toEqual({ evalsha: decisions });
  });

  it("leased mode: store calls per decision are reported (and far below one)", async () => {
    const client = redis();
    const workspaceId = randomUUID();
    const guard = new QuotaGuard({
      store: new RedisQuotaStore({ client, timeoutMs: 2_000 }),
      policies: { plans: { p: { big: { kind: "period", period: "month", limit: 1_000_000 } } }, defaultPlan: "p" },
      leased: { leaseMs: 10_000 },
    });
    const before = await commandCounts(client);
    const decisions = 5_000;
    for (let batch = 0; batch < decisions / 100; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => guard.consume({ workspaceId, limit: "big" })));
    }
    await guard.close();
    const used = delta(before, await commandCounts(client));
    console.log(`[commandstats] leased: ${decisions} decisions -> ${used.evalsha ?? 0} EVALSHA = ${((used.evalsha ?? 0) / decisions).toFixed(4)} store calls/decision`);
    const scripts = used.evalsha ?? 0;
    expect(scripts).toBe(used.time);
    expect(scripts).toBeLessThan(decisions / 10);
    const check = (await guard.check({ workspaceId, limit: "big" }))._unsafeUnwrap();
    expect(check.remaining).toBe(1_000_000 - decisions);
  });
});

describe("clock skew", () => {
  const client = redisClient();
  beforeAll(() => whenReady(client));
  afterAll(() => client.quit());

  it("app clocks skewed by -5 s / +5 s change no decision: Redis TIME decides", async () => {
    const store = new RedisQuotaStore({ client, timeoutMs: 2_000 });
    const run = async (guards: QuotaGuard[]) => {
      const workspaceId = randomUUID();
      const out: string[] = [];
      for (let i = 0; i < 60; i++) {
        const guard = guards[i % guards.length]!;
        const limit = ["segments", "messages", "ingest"][i % 3]!;
        const d = (await guard.consume({ workspaceId, limit, cost: 1 + (i % 4) }))._unsafeUnwrap();
        out.push(`${limit}:${d.allowed}:${d.remaining}`);
      }
      return out;
    };
    const make = (offsetMs: number) =>
      new QuotaGuard({ store, clock: offsetMs === 0 ? systemClock : skewedClock(offsetMs), policies: { plans: { p: PLAN }, defaultPlan: "p" } });
    const reference = await run([make(0)]);
    const skewed = await run([make(-5_000), make(5_000), make(0)]);
    expect(reference.filter((d) => d.includes(":false:")).length).toBeGreaterThan(0);
    expect(skewed).toEqual(reference);
  });
});
