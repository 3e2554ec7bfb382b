import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { ChaosSubscriber, type BusWireMessage } from "./chaos-subscriber.js";
import { eventually, freshChannel, freshWorkspace, startNode, type TestNode } from "./nodes.js";

const url = () => inject("servers").redisUrl;

// A node restarted with a fixed nodeId starts its sequence again at 0. The
// others must not keep comparing its new sequence with the old one's last
// number (a lost message would then go unnoticed until the new sequence
// passed the old).
describe("bus: a peer restarted with the same nodeId", () => {
  const nodes: TestNode<string>[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it("is a new peer: an invalidation lost from its new life is detected at its next heartbeat", async () => {
    const channel = freshChannel();
    const options = { channel, heartbeatMs: 50, ttlMs: 60_000, timeoutMs: 1_000 };
    let chaos!: ChaosSubscriber;
    const wrap = (s: Redis) => (chaos = new ChaosSubscriber(s));
    const reader = await startNode<string>(url(), { ...options, wrap });
    nodes.push(reader);
    const nodeId = "fixed-node-id";
    const first = await startNode<string>(url(), { ...options, nodeId });
    await eventually(() => reader.cache.stats().peers === 1 && first.cache.stats().peers === 1);
    const w = freshWorkspace();
    // Its first life sends five invalidations: the reader has seen its sequence reach 5.
    for (let i = 0; i < 5; i++) expect((await first.cache.delete({ workspaceId: w, key: `other${i}`, acknowledged: true })).isOk()).toBe(true);

    // It crashes: no goodbye reaches the reader (the last message it delivers would be it).
    chaos.settings.dropIf = (m) => m.n === nodeId && m.t === "b";
    await first.close();
    await eventually(() => chaos.stats.dropped === 1);

    const heartbeats: BusWireMessage[] = [];
    chaos.onDelivered = (m) => {
      if (m.n === nodeId && m.t === "h") heartbeats.push(m);
    };
    const second = await startNode<string>(url(), { ...options, nodeId });
    nodes.push(second);
    await eventually(() => heartbeats.length > 0); // the reader knows the new life

    expect((await reader.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "old"))._unsafeUnwrap()).toBe("old");
    // The new life deletes k (its sequence number 1); that message is lost on the way to the reader.
    chaos.settings.dropIf = (m) => m.n === nodeId && (m.t === "b" || m.t === "d");
    expect((await second.cache.delete({ workspaceId: w, key: "k" })).isOk()).toBe(true);
    await eventually(() => heartbeats.some((h) => (h.s ?? 0) >= 1)); // its heartbeat reports sequence 1
    expect((await reader.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "new"))._unsafeUnwrap()).toBe("new");
  });
  it("a late message of its previous life, delivered after the new life is known, is applied without a flush and leaves the new life the peer", async () => {
    const channel = freshChannel();
    const options = { channel, heartbeatMs: 50, ttlMs: 60_000, timeoutMs: 1_000 };
    let chaos!: ChaosSubscriber;
    const wrap = (s: Redis) => (chaos = new ChaosSubscriber(s));
    const reader = await startNode<string>(url(), { ...options, wrap });
    nodes.push(reader);
    const nodeId = "fixed-node-id-late";
    let firstLife: string | undefined;
    chaos.onDelivered = (m) => {
      if (m.n === nodeId) firstLife ??= m.i;
    };
    const first = await startNode<string>(url(), { ...options, nodeId });
    await eventually(() => reader.cache.stats().peers === 1 && firstLife !== undefined);
    const w = freshWorkspace();
    expect((await first.cache.delete({ workspaceId: w, key: "a", acknowledged: true })).isOk()).toBe(true);
    // Everything its first life sends from now on is held back: a delete, heartbeats, its goodbye.
    chaos.settings.holdIf = (m) => m.n === nodeId && m.i === firstLife;
    expect((await first.cache.delete({ workspaceId: w, key: "x" })).isOk()).toBe(true);
    await first.close();

    const heartbeats: BusWireMessage[] = [];
    chaos.onDelivered = (m) => {
      if (m.n === nodeId && m.i !== firstLife && m.t === "h") heartbeats.push(m);
    };
    const second = await startNode<string>(url(), { ...options, nodeId });
    nodes.push(second);
    await eventually(() => heartbeats.length > 0); // the reader knows the new life (and flushed once for the restart)
    expect((await reader.cache.getOrLoad({ workspaceId: w, key: "k" }, () => "cached"))._unsafeUnwrap()).toBe("cached");
    const { flushes, applied } = reader.cache.stats().bus;

    chaos.release(); // the first life's messages arrive now, after the second's
    const seen = heartbeats.length;
    await eventually(() => heartbeats.length >= seen + 3); // three more heartbeats of the new life
    // The new life's acknowledged delete is confirmed by the reader (it is still its peer).
    expect((await second.cache.delete({ workspaceId: w, key: "other", acknowledged: true })).isOk()).toBe(true);
    const after = reader.cache.stats().bus;
    expect(after.flushes).toBe(flushes);
    expect(after.applied).toBeGreaterThanOrEqual(applied + 2); // the late delete of x, and the new life's delete
    expect(reader.cache.stats().peers).toBe(1);
    // Nothing was flushed: k is still in the reader's local tier.
    expect(reader.cache.local.get({ workspaceId: w, key: "k" })._unsafeUnwrap()).toBe("cached");
  });
});
