import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";
import type { StoreRequest } from "../../../src/quota/store.js";
import type { Plan } from "../../../src/quota/types.js";
import { clusterClient, whenReady } from "../../support/redis-clients.js";
import { commandCounts, dedicatedRedis } from "../../support/dedicated-redis.js";

const LIMIT = 300;
const PLAN: Plan = {
  credits: { kind: "period", period: "month", limit: LIMIT },
  ingest: { kind: "rate", limit: 1_000, periodMs: 3_600_000, burst: 1_000 },
};

/** EVALSHA and TIME calls Redis has run so far (INFO commandstats). */
async function calls(client: Redis): Promise<{ evalsha: number; time: number }> {
  const counts = await commandCounts(client);
  return { evalsha: counts.get("evalsha") ?? 0, time: counts.get("time") ?? 0 };
}

describe("strict decisions batched while the store is busy (real Redis)", () => {
  const redis = dedicatedRedis();

  // breakerMs 0: every decision goes to Redis, so what each one did there is visible.
  const guardOn = (timeoutMs = 5_000) =>
    new QuotaGuard({ store: new RedisQuotaStore({ client: redis(), timeoutMs }), breakerMs: 0, policies: { plans: { p: PLAN }, defaultPlan: "p" } });

  it("2,000 concurrent decisions over 20 workspaces: fewer EVALSHAs than decisions, and each workspace exact", async () => {
    const client = redis();
    const guard = guardOn();
    const workspaces = Array.from({ length: 20 }, () => randomUUID());
    await guard.consume({ workspaceId: workspaces[0]!, limit: "ingest" }); // loads the scripts
    await guard.consume({ workspaceId: workspaces[0]!, limits: [{ limit: "credits" }, { limit: "ingest" }] });
    const before = await calls(client);
    const costs = Array.from({ length: 2_000 }, (_, i) => 1 + ((i * 7919) % 5));
    const decisions = await Promise.all(
      costs.map((cost, i) => guard.consume({ workspaceId: workspaces[i % 20]!, limits: [{ limit: "credits", cost }, { limit: "ingest" }] })),
    );
    const after = await calls(client);
    const scripts = after.evalsha - before.evalsha;
    console.log(`[batching] 2000 decisions -> ${scripts} EVALSHA (${(2000 / scripts).toFixed(1)} decisions per call)`);
    expect(scripts).toBeLessThan(2_000 / 4);
    expect(after.time - before.time).toBe(scripts); // one Redis TIME per call, batch or not

    for (let w = 0; w < 20; w++) {
      const mine = decisions.map((d, i) => ({ d: d._unsafeUnwrap(), cost: costs[i]!, w: i % 20 })).filter((x) => x.w === w);
      const used = (w === 0 ? 1 : 0) + mine.filter((x) => x.d.allowed).reduce((sum, x) => sum + x.cost, 0);
      const smallestDenied = Math.min(...mine.filter((x) => !x.d.allowed).map((x) => x.cost));
      expect(mine.every((x) => !x.d.degraded)).toBe(true);
      expect(used).toBeLessThanOrEqual(LIMIT);
      // Strict: nothing left that a denied request could have taken.
      expect(LIMIT - used).toBeLessThan(smallestDenied);
      const state = (await guard.check({ workspaceId: workspaces[w]!, limit: "credits" }))._unsafeUnwrap();
      expect(state.remaining).toBe(LIMIT - used);
    }
  });

  it("a decision that fails in Redis fails alone; the others in its batch are decided", async () => {
    const client = redis();
    const guard = guardOn();
    const good = Array.from({ length: 5 }, () => randomUUID());
    const bad = randomUUID();
    // A string where the bad workspace's family hash should be: its HMGET fails with WRONGTYPE.
    await client.set(`tk:{${bad}}:quota:state`, "not a hash");
    const first = guard.consume({ workspaceId: good[0]!, limit: "credits" }); // in flight: the rest wait for one batch
    const batched = await Promise.all([...good, bad, ...good].map((workspaceId) => guard.consume({ workspaceId, limit: "credits" })));
    expect((await first)._unsafeUnwrap().allowed).toBe(true);
    const failed = batched[5]!;
    expect(failed.isErr() && failed.error).toMatchObject({ type: "StoreFailed", message: expect.stringMatching(/WRONGTYPE/) });
    batched.filter((_, i) => i !== 5).forEach((d) => expect(d._unsafeUnwrap()).toMatchObject({ allowed: true, degraded: false }));
    expect(await client.get(`tk:{${bad}}:quota:state`)).toBe("not a hash");
    for (const [i, workspaceId] of good.entries()) {
      expect((await guard.check({ workspaceId, limit: "credits" }))._unsafeUnwrap().remaining).toBe(LIMIT - (i === 0 ? 3 : 2));
    }
  });

  it("in one batch, a decision with many fields and writes leaves nothing in the smaller decisions' hashes after it", async () => {
    const client = redis();
    // The batch script reuses its field and write tables across decisions: only each decision's own entries may be sent.
    const wide: Plan = {
      ...PLAN,
      window: { kind: "rate", algorithm: "slidingWindow", limit: 50, periodMs: 60_000 },
      daily: { kind: "period", period: "day", limit: 50 },
    };
    const guard = new QuotaGuard({ store: new RedisQuotaStore({ client, timeoutMs: 5_000 }), breakerMs: 0, policies: { plans: { p: wide }, defaultPlan: "p" } });
    const [big, small1, small2] = [randomUUID(), randomUUID(), randomUUID()];
    const first = guard.consume({ workspaceId: randomUUID(), limit: "credits" }); // in flight: the next three leave as one batch
    const decided = await Promise.all([
      guard.consume({ workspaceId: big, limits: [{ limit: "window" }, { limit: "daily" }, { limit: "ingest" }, { limit: "credits" }] }),
      guard.consume({ workspaceId: small1, limit: "credits" }),
      guard.consume({ workspaceId: small2, limit: "ingest" }),
    ]);
    (await first)._unsafeUnwrap();
    decided.forEach((d) => expect(d._unsafeUnwrap()).toMatchObject({ allowed: true, degraded: false }));
    const fields = async (workspaceId: string) => Object.keys(await client.hgetall(`tk:{${workspaceId}}:quota:state`)).sort();
    expect(await fields(big)).toEqual([":credits#e", ":credits#u", ":daily#e", ":daily#u", ":ingest#g", ":window#c", ":window#p", ":window#w", "x"]);
    expect(await fields(small1)).toEqual([":credits#e", ":credits#u", "x"]);
    expect(await fields(small2)).toEqual([":ingest#g", "x"]);
  });

  it("decisions whose wait used up the timeout are failed unsent and consume nothing", async () => {
    const client = redis();
    let applied = 0;
    const store = new (class extends RedisQuotaStore {
      override apply(request: StoreRequest) {
        applied++;
        return super.apply(request);
      }
    })({ client, timeoutMs: 100 });
    const guard = new QuotaGuard({ store, breakerMs: 0, policies: { plans: { p: PLAN }, defaultPlan: "p" } });
    const workspaceId = randomUUID();
    const first = guard.consume({ workspaceId, limit: "credits" }); // sent alone
    const waiting = Array.from({ length: 10 }, () => guard.consume({ workspaceId, limit: "credits" }));
    // Once all 11 reached the store (microtasks; the batch leaves in a later macrotask),
    // block the event loop past the timeout.
    while (applied < 11) await Promise.resolve();
    const until = Date.now() + 150;
    while (Date.now() < until);
    const outcomes = await Promise.all(waiting);
    await first;
    // Store unavailable, decided by the failure policy (open by default).
    for (const outcome of outcomes) expect(outcome._unsafeUnwrap()).toMatchObject({ degraded: true });
    // The first decision's timeout may have made the store reconnect: ask until Redis answers.
    let state = (await guard.check({ workspaceId, limit: "credits" }))._unsafeUnwrap();
    for (let i = 0; i < 100 && state.degraded; i++) {
      await sleep(50);
      state = (await guard.check({ workspaceId, limit: "credits" }))._unsafeUnwrap();
    }
    // Redis applied the first decision, and only it.
    expect(state).toMatchObject({ degraded: false, remaining: LIMIT - 1 });
  });
});

describe("batching on a 3-master Redis Cluster", () => {
  const cluster = clusterClient();
  beforeAll(() => whenReady(cluster));
  afterAll(() => cluster.quit());

  it("1,000 concurrent decisions over 50 families (parents and children): batches stay within one slot, every decision exact", async () => {
    const parents = Array.from({ length: 25 }, () => randomUUID());
    const children = parents.map(() => randomUUID());
    const workspaces = Object.fromEntries(children.map((child, i) => [child, { parentWorkspaceId: parents[i]! }]));
    const guard = new QuotaGuard({ store: new RedisQuotaStore({ client: cluster, timeoutMs: 5_000 }), policies: { plans: { p: PLAN }, defaultPlan: "p", workspaces } });
    const ids = [...parents, ...children];
    const decisions = await Promise.all(Array.from({ length: 1_000 }, (_, i) => guard.consume({ workspaceId: ids[i % 50]!, limits: [{ limit: "credits" }, { limit: "ingest" }] })));
    const errors = decisions.filter((d) => d.isErr()).map((d) => d._unsafeUnwrapErr().message);
    expect(errors).toEqual([]);
    expect(decisions.every((d) => d._unsafeUnwrap().allowed && !d._unsafeUnwrap().degraded)).toBe(true);
    // Each parent counted its own 20 decisions and its child's 20 (the parent's aggregate); each child its own 20.
    for (const [i, parent] of parents.entries()) {
      expect((await guard.check({ workspaceId: parent, limit: "credits" }))._unsafeUnwrap().remaining).toBe(LIMIT - 40);
      const child = (await guard.check({ workspaceId: children[i]!, limit: "credits" }))._unsafeUnwrap();
      expect(child.limits.map((l) => [l.scope, l.remaining])).toEqual([["own", LIMIT - 20], ["parent", LIMIT - 40]]);
    }
  });
});
