import { randomUUID } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { QuotaGuard, type WorkspaceQuota } from "../src/quota/guard.js";
import { MemoryQuotaStore } from "../src/quota/stores/memory.js";
import { RedisQuotaStore } from "../src/quota/stores/redis.js";
import { KIND_GCRA, type StoreItem } from "../src/quota/store.js";
import { startRedis } from "../test/support/redis-server.js";
import { blackhole, latenciesMicros, median, opsPerSecondConcurrent, type BenchContext } from "./harness.js";

const WORKSPACES = 1_000;
/** Limits high enough that neither side denies during a run (a denial is a rejection in RLF). */
const BIG = 1_000_000_000;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * QuotaGuard vs rate-limiter-flexible v11, side by side, 1,000 workspaces,
 * each decision awaited as a caller would.
 */
export default async function quotaBench(ctx: BenchContext): Promise<void> {
  const ids = Array.from({ length: WORKSPACES }, () => randomUUID());
  await memoryConsume(ctx, ids);
  await redisBenches(ctx, ids);
  await bytesPerKey(ctx);
}

async function memoryConsume(ctx: BenchContext, ids: readonly string[]): Promise<void> {
  const guard = new QuotaGuard({
    policies: { plans: { p: { ingest: { kind: "rate", limit: BIG, periodMs: 3_600_000 } } }, defaultPlan: "p" },
  });
  const handles: WorkspaceQuota[] = ids.map((id) => guard.workspace(id)._unsafeUnwrap());
  for (const h of handles) await h.consume({ limit: "ingest" });
  const rlf = new RateLimiterMemory({ points: BIG, duration: 3_600 });
  const iterations = ctx.size(1_000_000, 200_000);
  const request = { limit: "ingest" } as const;
  const ours = async (): Promise<number> => {
    let allowed = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const d = await handles[i % WORKSPACES]!.consume(request);
      if (d.isOk() && d.value.allowed) allowed++;
    }
    blackhole(allowed);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  const peer = async (): Promise<number> => {
    let allowed = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const r = await rlf.consume(ids[i % WORKSPACES]!);
      if (r.remainingPoints >= 0) allowed++;
    }
    blackhole(allowed);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  await ctx.compare({
    id: "quota.memory.consume",
    note: "GCRA rate limit per workspace via the bound handle, awaited one at a time; RLF RateLimiterMemory.consume on the same 1,000 keys",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 1.5,
    ours,
    peer: { name: "rate-limiter-flexible RateLimiterMemory.consume", measure: peer },
  });
}

async function redisBenches(ctx: BenchContext, ids: readonly string[]): Promise<void> {
  const server = await startRedis();
  const client = new Redis(server.url, { autoResendUnfulfilledCommands: false });
  await new Promise<void>((resolve) => client.once("ready", () => resolve()));
  try {
    const parents = ids.slice(0, 100);
    const plan = {
      ingest: { kind: "rate", limit: BIG, periodMs: 3_600_000 },
      messages: { kind: "period", period: "month", limit: BIG },
    } as const;
    const workspaces = Object.fromEntries(ids.slice(100).map((id, i) => [id, { parentWorkspaceId: parents[i % 100]! }]));
    const strict = new QuotaGuard({ store: new RedisQuotaStore({ client, timeoutMs: 5_000 }), policies: { plans: { p: plan }, defaultPlan: "p", workspaces } });
    const leased = new QuotaGuard({
      store: new RedisQuotaStore({ client, timeoutMs: 5_000 }),
      policies: { plans: { p: plan }, defaultPlan: "p" },
      leased: { leaseMs: 2_000, maxLeaseUnits: 5_000 },
    });
    const rlf = new RateLimiterRedis({ storeClient: client, points: BIG, duration: 3_600, keyPrefix: "" });
    const strictHandles = ids.map((id) => strict.workspace(id)._unsafeUnwrap());
    const leasedHandles = ids.map((id) => leased.workspace(id)._unsafeUnwrap());
    // Two limits on a child (and its parent): four items in one decision.
    const both = { limits: [{ limit: "ingest" }, { limit: "messages" }] } as const;
    const one = { limit: "messages" } as const;
    const total = ctx.size(60_000, 15_000);

    const strictRun = () => opsPerSecondConcurrent(total, 128, (i) => strictHandles[i % WORKSPACES]!.consume(both));
    const leasedRun = () => opsPerSecondConcurrent(total * 4, 128, (i) => leasedHandles[i % WORKSPACES]!.consume(one));
    const peerRun = (n: number) => () => opsPerSecondConcurrent(n, 128, (i) => rlf.consume(`rlf:${ids[i % WORKSPACES]!}`));
    await ctx.compare({
      id: "quota.redis.strict",
      note: "128 in flight; ours: 2 limits x (child + parent) = 4 states in the family hash, one EVALSHA per decision or per batch under load, nothing consumed on denial",
      unit: "ops/s",
      higherIsBetter: true,
      goal: 1.0,
      ours: strictRun,
      peer: { name: "rate-limiter-flexible RateLimiterRedis.consume", measure: peerRun(total) },
    });
    await ctx.compare({
      id: "quota.redis.leased",
      note: "128 in flight; leased mode, period limit per workspace",
      unit: "ops/s",
      higherIsBetter: true,
      goal: 10,
      ours: leasedRun,
      peer: { name: "rate-limiter-flexible RateLimiterRedis.consume", measure: peerRun(total) },
    });
    // Return the leased guard's units now: its background refunds and renewals on the same
    // client would otherwise be in flight during the one-in-flight latency measurement.
    await leased.close();
    const samples = ctx.size(5_000, 1_500);
    // Root workspaces (the 100 parents): one limit, one key, as a plain rate-limited API call.
    const oneLimit = { limit: "ingest" } as const;
    await ctx.compare({
      id: "quota.redis.latency",
      note: "one decision in flight (one GCRA limit on a root workspace, strict); ratio = median PING round trip / median decision",
      unit: "µs",
      higherIsBetter: false,
      goal: 0.77,
      ours: async () => median(await latenciesMicros(samples, (i) => strictHandles[i % 100]!.consume(oneLimit))),
      peer: { name: "ioredis PING round trip", measure: async () => median(await latenciesMicros(samples, () => client.ping())) },
    });
  } finally {
    client.disconnect();
    await server.stop();
  }
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function bytesPerKey(ctx: BenchContext): Promise<void> {
  const keys = ctx.size(1_000_000, 200_000);
  const names = Array.from({ length: keys }, (_, i) => `ws-${i.toString(36).padStart(8, "0")}`);
  const measureOurs = (): number => {
    const store = new MemoryQuotaStore({ maxKeys: keys + 1 });
    const base = heapAfterGc();
    const item = { kind: KIND_GCRA, limit: 100, cost: 1, a: 3_600_000, b: 100 };
    for (const key of names) store.applySync({ mode: "consume", items: [{ ...item, key } satisfies StoreItem] });
    const used = heapAfterGc() - base;
    blackhole(store);
    return used / keys;
  };
  const measurePeer = async (): Promise<number> => {
    const rlf = new RateLimiterMemory({ points: 100, duration: 3_600 });
    const base = heapAfterGc();
    for (const key of names) await rlf.consume(key);
    const used = heapAfterGc() - base;
    blackhole(rlf);
    return used / keys;
  };
  await ctx
    .compare({
      id: "quota.memory.bytesPerKey",
      note: `${keys.toLocaleString("en-US")} active GCRA keys (key strings held by the caller for both sides); goal also ours <= 150 B`,
      unit: "bytes/key",
      higherIsBetter: false,
      goal: 2,
      rounds: ctx.quick ? 1 : 3,
      ours: measureOurs,
      peer: { name: "rate-limiter-flexible RateLimiterMemory", measure: measurePeer },
    })
    .then((r) => console.log(`quota.memory.bytesPerKey: ours ${r.ours} B/key (absolute goal <= 150: ${r.ours <= 150 ? "meets" : "MISSES"})`));
}
