/**
 * One OS process of the over-admission test: N concurrent callers, each
 * consuming a seeded random cost 1-5 from one shared limit, started together
 * on "go" from stdin. Prints one JSON line with what it was granted.
 */
import { Cluster, Redis } from "ioredis";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { RedisQuotaStore } from "../../../src/quota/stores/redis.js";

const [target, workspaceId, limitText, callersText, seedText, modeText] = process.argv.slice(2);
const limit = Number(limitText);
const callers = Number(callersText);
let seed = Number(seedText) >>> 0 || 1;
const random = () => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
};

const client = target!.startsWith("cluster:")
  ? new Cluster(
      target!.slice(8).split(",").map((hp) => ({ host: hp.split(":")[0]!, port: Number(hp.split(":")[1]) })),
      { redisOptions: { autoResendUnfulfilledCommands: false }, retryDelayOnFailover: 0 },
    )
  : new Redis(target!, { autoResendUnfulfilledCommands: false });

const store = new RedisQuotaStore({ client, timeoutMs: 20_000 });
const guard = new QuotaGuard({
  store,
  policies: { plans: { p: { credits: { kind: "period", period: "month", limit, onStoreFailure: "closed" } } }, defaultPlan: "p" },
  ...(modeText === "leased" ? { leased: { leaseMs: 5_000, maxLeaseUnits: 200 } } : {}),
});

await new Promise<void>((resolve) => client.once("ready", () => resolve()));
process.stdout.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
process.stdin.destroy();

const costs = Array.from({ length: callers }, () => 1 + Math.floor(random() * 5));
let admitted = 0;
let admittedCalls = 0;
let minDenied = Number.POSITIVE_INFINITY;
let degraded = 0;
const errors: string[] = [];
await Promise.all(
  costs.map(async (cost) => {
    const d = await guard.consume({ workspaceId: workspaceId!, limit: "credits", cost });
    if (d.isErr()) {
      errors.push(`${d.error.type}: ${d.error.message}`);
      return;
    }
    if (d.value.degraded) degraded++;
    if (d.value.allowed) {
      admitted += cost;
      admittedCalls++;
    } else minDenied = Math.min(minDenied, cost);
  }),
);
const stats = guard.leaseStats();
await guard.close();
process.stdout.write(
  `${JSON.stringify({ admitted, admittedCalls, minDenied: Number.isFinite(minDenied) ? minDenied : null, degraded, errors: errors.slice(0, 5), errorCount: errors.length, stats })}\n`,
);
client.disconnect();
