import { once } from "node:events";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { ChaosSubscriber } from "./chaos-subscriber.js";
import { eventually, freshChannel, freshWorkspace, sleep, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;

describe("bus chaos: delayed, duplicated, dropped and reordered invalidations", () => {
  const HEARTBEAT_MS = 100;
  let writer: TestNode<string>;
  let readers: TestNode<string>[];
  const chaos: ChaosSubscriber[] = [];
  const wrap = (s: Redis) => {
    const c = new ChaosSubscriber(s);
    chaos.push(c);
    return c;
  };

  beforeAll(async () => {
    const options = { channel: freshChannel(), heartbeatMs: HEARTBEAT_MS, ackTimeoutMs: 3_000, timeoutMs: 1_000, ttlMs: 60_000, wrap };
    writer = await startNode<string>(url(), options);
    readers = await Promise.all([startNode<string>(url(), options), startNode<string>(url(), options)]);
    await eventually(() => [writer, ...readers].every((n) => n.cache.stats().peers === 2));
  });
  afterAll(async () => {
    await Promise.all([writer, ...readers].map((n) => n.close()));
  });

  it("zero stale reads after an acknowledged invalidation, with fills in flight on every reader", async () => {
    for (const c of chaos) Object.assign(c.settings, { drop: 0.2, duplicate: 0.2, maxDelayMs: 30 });
    const w = freshWorkspace();
    const keys = ["journeys", "writeKey", "segments", "secrets"];
    const db = new Map(keys.map((k) => [k, "v0"]));
    // The loader reads the "database" at once and answers a little later, so
    // fills that started before an invalidation are often still in flight.
    const loader = async (key: string) => {
      const value = db.get(key);
      await sleep(Math.random() * 15);
      return value;
    };
    let stop = false;
    const background = readers.map(async (r) => {
      while (!stop) {
        await r.cache.getOrLoad({ workspaceId: w, key: keys[Math.floor(Math.random() * keys.length)] ?? "journeys" }, loader);
        await sleep(1);
      }
    });
    let acknowledged = 0;
    let notAcknowledged = 0;
    let staleReads = 0;
    let checks = 0;
    for (let round = 1; round <= 60; round++) {
      const key = keys[round % keys.length] ?? "journeys";
      db.set(key, `v${round}`);
      const invalidated = await writer.cache.delete({ workspaceId: w, key, acknowledged: true });
      if (invalidated.isErr()) {
        notAcknowledged++;
        continue;
      }
      acknowledged++;
      for (const r of readers) {
        const read = await r.cache.getOrLoad({ workspaceId: w, key }, loader);
        checks++;
        if (read._unsafeUnwrap() !== db.get(key)) staleReads++;
      }
    }
    stop = true;
    await Promise.all(background);
    for (const c of chaos) Object.assign(c.settings, { drop: 0, duplicate: 0, maxDelayMs: 0 });
    const disturbed = chaos.reduce((s, c) => s + c.stats.dropped + c.stats.duplicated, 0);
    console.log(
      `bus chaos (acknowledged): ${acknowledged} acknowledged invalidations, ${notAcknowledged} not acknowledged, ` +
        `${checks} reads checked, ${staleReads} stale; chaos: ${JSON.stringify(chaos.map((c) => c.stats))}`,
    );
    expect(disturbed).toBeGreaterThan(50); // the chaos really happened
    expect(acknowledged).toBeGreaterThanOrEqual(55);
    expect(staleReads).toBe(0);
  });

  it("silent loss: a dropped invalidation is repaired by the sender's next heartbeat (≤ one interval)", async () => {
    const w = freshWorkspace();
    const reader = readers[0] as TestNode<string>;
    const readerChaos = reader.bus as ChaosSubscriber;
    await writer.cache.set({ workspaceId: w, key: "k", value: "old", acknowledged: true });
    expect((await reader.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("old");
    let dropped = false;
    let droppedSeq = Infinity;
    readerChaos.settings.dropIf = (m) => {
      if (m.t === "d" && m.k === "k" && !dropped) {
        droppedSeq = m.s ?? Infinity;
        return (dropped = true);
      }
      return false;
    };
    let heartbeatAt = 0;
    // The writer's first heartbeat sent after the lost message (its sequence number covers it): a
    // heartbeat still delayed from the previous test's chaos can arrive later, and does not count.
    const firstHeartbeat = new Promise<void>((resolve) => {
      readerChaos.onDelivered = (m) => {
        if (dropped && m.n === writer.cache.nodeId && m.t === "h" && (m.s ?? -1) >= droppedSeq && heartbeatAt === 0) {
          heartbeatAt = Date.now();
          resolve();
        }
      };
    });
    const deletedAt = Date.now();
    expect((await writer.cache.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true);
    await sleep(5);
    expect(dropped).toBe(true);
    // Until the writer's next heartbeat, the reader still serves its stale local copy (the loss is silent)...
    const beforeHeartbeat = (await reader.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap();
    await firstHeartbeat;
    // ...and right after that heartbeat it no longer does.
    expect((await reader.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBeUndefined();
    readerChaos.settings.dropIf = undefined;
    readerChaos.onDelivered = () => undefined;
    console.log(`silent loss: stale for ${heartbeatAt - deletedAt} ms (heartbeat ${HEARTBEAT_MS} ms); read before heartbeat: ${beforeHeartbeat}`);
    expect(beforeHeartbeat === "old" || heartbeatAt - deletedAt < 10).toBe(true);
    expect(heartbeatAt - deletedAt).toBeLessThanOrEqual(HEARTBEAT_MS + 250); // settles within one interval (+ generous slack)
  });

  it("a silent peer (missed heartbeats) makes the others flush their local tier", async () => {
    const w = freshWorkspace();
    const reader = readers[1] as TestNode<string>;
    const readerChaos = reader.bus as ChaosSubscriber;
    await writer.cache.set({ workspaceId: w, key: "k", value: "cached", acknowledged: true });
    await reader.cache.get({ workspaceId: w, key: "k" });
    expect(reader.cache.local.stats().entries).toBeGreaterThan(0);
    const flushesBefore = reader.cache.stats().bus.flushes;
    readerChaos.settings.dropIf = (m) => m.n === writer.cache.nodeId;
    await eventually(() => reader.cache.stats().bus.flushes > flushesBefore, 3_000);
    expect(reader.cache.local.stats().workspaces.find((x) => x.workspaceId === w)).toBeUndefined();
    readerChaos.settings.dropIf = undefined;
  });

  it("a subscriber reconnect flushes the local tier, so invalidations missed while disconnected cannot leave stale values", async () => {
    const w = freshWorkspace();
    const reader = readers[0] as TestNode<string>;
    await writer.cache.set({ workspaceId: w, key: "k", value: "before", acknowledged: true });
    expect((await reader.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("before");
    const flushesBefore = reader.cache.stats().bus.flushes;
    const closed = once(reader.subscriber, "close");
    reader.subscriber.disconnect(true);
    await closed;
    const ready = once(reader.subscriber, "ready");
    await writer.cache.set({ workspaceId: w, key: "k", value: "after" }); // the reader cannot hear this
    await ready;
    expect(reader.cache.stats().bus.flushes).toBeGreaterThan(flushesBefore);
    expect((await reader.cache.get({ workspaceId: w, key: "k" }))._unsafeUnwrap()).toBe("after");
  });
});
