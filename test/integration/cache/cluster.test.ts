import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisTenantCache } from "../../../src/cache/redis.js";
import { clusterClient, whenReady } from "../../support/redis-clients.js";
import { eventually, freshChannel, freshWorkspace } from "./nodes.js";

describe("Redis tier on a 3-master Redis Cluster", () => {
  const clients: Cluster[] = [];
  const caches: RedisTenantCache<string>[] = [];
  beforeAll(async () => {
    const channel = freshChannel();
    for (let i = 0; i < 2; i++) {
      const client = clusterClient();
      const subscriber = clusterClient();
      clients.push(client, subscriber);
      await Promise.all([whenReady(client), whenReady(subscriber)]);
      const cache = new RedisTenantCache<string>({ maxBytes: 1e6, client, subscriber, channel, heartbeatMs: 200, timeoutMs: 2_000, acknowledged: true });
      (await cache.start())._unsafeUnwrap();
      caches.push(cache);
    }
    await eventually(() => caches.every((c) => c.stats().peers === 1));
  });
  afterAll(async () => {
    for (const c of caches) await c.close();
    for (const c of clients) c.disconnect();
  });

  it("reads, fenced fills, deletes and O(1) clears work across slots (no CROSSSLOT), with acknowledged invalidation", async () => {
    const [a, b] = caches as [RedisTenantCache<string>, RedisTenantCache<string>];
    const workspaces = Array.from({ length: 12 }, () => freshWorkspace()); // spread over the 3 masters
    for (const w of workspaces) {
      expect((await a.set({ workspaceId: w, key: "k", value: `v-${w}` })).isOk()).toBe(true);
      expect((await b.getOrLoad({ workspaceId: w, key: "other" }, () => "loaded"))._unsafeUnwrap()).toBe("loaded");
    }
    for (const w of workspaces) {
      expect((await b.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe(`v-${w}`);
      expect((await a.get({ workspaceId: w, key: "other" }))._unsafeUnwrap()).toBe("loaded");
    }
    for (const w of workspaces) {
      expect((await a.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true);
      expect((await b.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBeUndefined();
      expect((await b.clear({ workspaceId: w })).isOk()).toBe(true);
      expect((await a.get({ workspaceId: w, key: "other" }))._unsafeUnwrap()).toBeUndefined();
    }
  });
});
