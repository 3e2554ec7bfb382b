import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisRunner } from "../../../src/core/redis/runner.js";
import { HOT_SCRIPT } from "../../../src/quota/stores/redis-hot-script.js";
import { QUOTA_SCRIPT } from "../../../src/quota/stores/redis-script.js";
import { KIND_GCRA, KIND_PERIOD, KIND_SLIDING, PERIOD_BILLING, PERIOD_DAY, PERIOD_MONTH, type StoreItem } from "../../../src/quota/store.js";
import { EXPIRY_FIELD, familyKey, fieldsOf, hotArgs } from "../../../src/quota/stores/redis-layout.js";
import { redisClient, whenReady } from "../../support/redis-clients.js";

/** [kind, limit, a, b] of one item; costs vary per call. */
type Shape = readonly [number, number, number, number];

const SHAPES: readonly Shape[] = [
  [KIND_GCRA, 150, 3_600_000, 150],
  [KIND_GCRA, 120, 3_600_000, 40],
  [KIND_PERIOD, 200, PERIOD_MONTH, 1],
  [KIND_PERIOD, 150, PERIOD_DAY, 1],
  [KIND_PERIOD, 180, PERIOD_BILLING, 31],
  [KIND_SLIDING, 170, 3_600_000, 0],
];

/** Deterministic pseudo-random numbers (the sequence must be reproducible on failure). */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
}

/**
 * The minimal consume/check script must decide exactly as the general script
 * does. Both run the same random sequence of multi-item requests on their own
 * family hash; the limits are per hour/day/month so the few ms between the two
 * runs cannot change a whole-unit answer.
 */
describe("minimal rate/period script vs the general script", () => {
  const client = redisClient();
  const runner = new RedisRunner(client, { timeoutMs: 5_000 });
  beforeAll(() => whenReady(client));
  afterAll(() => client.quit());

  it("same decisions, failing item and remaining units over 400 random requests", async () => {
    const hotRoot = randomUUID();
    const fullRoot = randomUUID();
    // Items of the root itself and of one child (fields prefixed with the child's id).
    const children = new Map<string, string>([hotRoot, fullRoot].map((root) => [root, randomUUID()]));
    const key = (root: string, i: number, ofChild: boolean) => `tk:{${root}}:quota:${ofChild ? children.get(root)! : root}:l${i}`;
    const next = lcg(7);
    let denied = 0;
    let allowed = 0;
    for (let call = 0; call < 400; call++) {
      const picked = SHAPES.map((_, i) => i).filter(() => next() < 0.5);
      if (picked.length === 0) picked.push(Math.floor(next() * SHAPES.length));
      const check = next() < 0.2;
      const costs = picked.map(() => 1 + Math.floor(next() * 3));
      const ofChild = picked.map(() => next() < 0.5);
      const items = (root: string): StoreItem[] =>
        picked.map((s, j) => {
          const [kind, limit, a, b] = SHAPES[s]!;
          return { key: key(root, s, ofChild[j]!), kind, limit, cost: costs[j]!, a, b };
        });
      const hotItems = items(hotRoot);
      const fullItems = items(fullRoot);
      const fields = [...fullItems.flatMap((item) => fieldsOf(item)), EXPIRY_FIELD];
      const fullArgs: (string | number)[] = [check ? "check" : "consume", "", 1, 0, picked.length, fields.length, ...fields];
      for (const item of fullItems) fullArgs.push(item.kind, item.limit, item.cost, item.a, item.b);
      const { shape, owner } = hotArgs(hotItems, check);
      const hot = (await runner.runScript(HOT_SCRIPT, [familyKey(hotItems[0]!.key)], [shape, owner]))._unsafeUnwrap() as number[];
      const full = (await runner.runScript(QUOTA_SCRIPT, [familyKey(fullItems[0]!.key)], fullArgs))._unsafeUnwrap() as number[];
      const label = `call ${call}: items ${JSON.stringify(picked)} costs ${JSON.stringify(costs)} check ${check}`;
      // Minimal reply: failed, now, items. General reply: allowed, failed, granted, now, found, items.
      expect([hot[0] === -1 ? 1 : 0, hot[0]], label).toEqual([full[0], full[1]]);
      expect(hot.length - 2, label).toBe(full.length - 5);
      for (let j = 0; j < picked.length; j++) {
        expect(hot[2 + 3 * j], `${label}: remaining of item ${j}`).toBe(full[5 + 3 * j]);
        // A denial's wait is positive on both sides for the same items.
        expect(hot[4 + 3 * j]! > 0, `${label}: retry of item ${j}`).toBe(full[7 + 3 * j]! > 0);
      }
      if (hot[0] === 1) allowed++;
      else denied++;
    }
    console.log(`[scripts] minimal vs general: ${allowed} allowed, ${denied} denied, identical`);
    // The sequence really exercised both outcomes.
    expect(allowed).toBeGreaterThan(20);
    expect(denied).toBeGreaterThan(20);
    // And both left the same usage behind (period and window counters; GCRA arrival times differ by the ms between runs).
    const counters = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([f]) => /#[ucp]$/.test(f)).map(([f, v]) => [f.replace(/^[^:]+:/, ""), v]));
    const hotState = await client.hgetall(familyKey(key(hotRoot, 0, false)));
    const fullState = await client.hgetall(familyKey(key(fullRoot, 0, false)));
    expect(Object.keys(counters(hotState)).length).toBeGreaterThan(0);
    expect(counters(hotState)).toEqual(counters(fullState));
    // The family hash expires by itself, after its longest-lived field.
    expect(await client.pttl(familyKey(key(hotRoot, 0, false)))).toBeGreaterThan(0);
    expect(await client.pttl(familyKey(key(fullRoot, 0, false)))).toBeGreaterThan(0);
  });
});
