import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { eventually, freshChannel, freshWorkspace, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;

describe("Redis tier: workspaces that hold nothing keep no local partition (real Redis 7)", () => {
  let a: TestNode<string>;
  beforeAll(async () => {
    a = await startNode<string>(url(), { channel: freshChannel(), ttlMs: 60_000, timeoutMs: 1_000 });
  });
  afterAll(async () => {
    await a.close();
  });

  it("gets, loads of nothing, deletes and failed sets on 1,000 distinct workspaces leave the partition count where it was", async () => {
    const core = a.cache.local.core;
    const before = core.partitions.size;
    for (let i = 0; i < 1_000; i++) {
      const workspaceId = freshWorkspace();
      expect((await a.cache.get({ workspaceId, key: "k" }))._unsafeUnwrap()).toBeUndefined();
      expect((await a.cache.getOrLoad({ workspaceId, key: "k" }, () => undefined))._unsafeUnwrap()).toBeUndefined();
      expect((await a.cache.delete({ workspaceId, key: "k" })).isOk()).toBe(true);
      const ws = a.cache.workspace(workspaceId)._unsafeUnwrap();
      expect((await ws.set("k", 10n as unknown as string)).isErr()).toBe(true); // unencodable
    }
    // Reclaimed by the reclaim timer, about a second after they became idle.
    await eventually(() => core.partitions.size === before, 10_000);
  });
});
