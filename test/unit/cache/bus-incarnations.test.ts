import { ok } from "neverthrow";
import { describe, expect, it } from "vitest";
import type { RedisRunner } from "../../../src/core/redis/runner.js";
import { InvalidationBus, type BusSubscriber } from "../../../src/cache/redis/bus.js";

// A node restarted with a fixed nodeId is a new incarnation. Messages of its
// previous life can still arrive late (delivery is not ordered across
// connections): their invalidations are applied, but they must not make the
// receiver flush or forget the new incarnation (which would flush again at
// its next message and again at its next heartbeat).

const W = "00000000-0000-4000-8000-000000000001";

function harness() {
  let now = 1_000;
  const flushes: string[] = [];
  const invalidated: (string | undefined)[] = [];
  const published: string[] = [];
  const runner = { command: (_name: string, run: (c: unknown) => unknown) => (run({ publish: (_c: string, text: string) => published.push(text) }), Promise.resolve(ok(1))) };
  const subscriber: BusSubscriber = { status: "ready", subscribe: async () => 1, unsubscribe: async () => 1, on: () => undefined, removeListener: () => undefined };
  const bus = new InvalidationBus(
    runner as unknown as RedisRunner,
    subscriber,
    { nodeId: "me", channel: "c", heartbeatMs: 1_000, ackTimeoutMs: 100, peerLivenessMs: 10_000, now: () => now },
    { invalidate: (_w, key) => void invalidated.push(key), flush: (reason) => void flushes.push(reason) },
  );
  /** A peer's bus (same nodeId "peer" for every life), started at `at`: its messages as they go on the wire. */
  const life = (at: number) => {
    const saved = now;
    now = at;
    const sender = new InvalidationBus(runner as unknown as RedisRunner, subscriber, { ...bus.options, nodeId: "peer" }, { invalidate: () => undefined, flush: () => undefined });
    now = saved;
    // The incarnation its messages carry (this first message is never sent).
    const { i } = JSON.parse(sender.message("c", W)) as { i: string };
    let seq = 0;
    const wire = (fields: object) => JSON.stringify({ n: "peer", i, ...fields });
    return {
      delete: (key: string) => wire({ t: "d", s: ++seq, w: W, k: key }),
      heartbeat: () => wire({ t: "h", s: seq }),
      goodbye: () => wire({ t: "b" }),
    };
  };
  return { bus, flushes, invalidated, published, life, tick: (ms: number) => void (now += ms) };
}

describe("bus: late messages of a restarted node's previous incarnation", () => {
  it("after the new incarnation is known, are applied without a flush, and the new one stays the peer", () => {
    const { bus, flushes, invalidated, life } = harness();
    const first = life(0);
    bus.receive(first.heartbeat());
    bus.receive(first.delete("a"));
    const late = first.delete("b"); // in transit while the node restarts
    const second = life(500);
    bus.receive(second.heartbeat());
    expect(flushes).toHaveLength(1); // the restart itself: what the first life sent last may be lost
    bus.receive(late);
    bus.receive(first.heartbeat());
    bus.receive(first.goodbye()); // its goodbye, late too, must not remove the new life
    expect(invalidated).toEqual(["a", "b"]);
    bus.receive(second.delete("c"));
    bus.receive(second.heartbeat());
    bus.receive(second.delete("d"));
    expect(invalidated).toEqual(["a", "b", "c", "d"]);
    expect(flushes).toHaveLength(1);
    expect(bus.peers.size).toBe(1);
  });

  it("are told apart by the start time an incarnation carries, even when the receiver never saw the previous life", () => {
    const { bus, flushes, invalidated, life } = harness();
    const first = life(0);
    const late = first.delete("a");
    const second = life(500);
    bus.receive(second.heartbeat());
    bus.receive(late);
    bus.receive(second.delete("b"));
    bus.receive(second.heartbeat());
    expect(invalidated).toEqual(["a", "b"]);
    expect(flushes).toEqual([]);
  });

  it("a message after its incarnation's goodbye does not bring the departed peer back", () => {
    const { bus, flushes, invalidated, life } = harness();
    const only = life(0);
    bus.receive(only.heartbeat());
    const late = only.delete("a");
    bus.receive(only.goodbye());
    bus.receive(late);
    expect(invalidated).toEqual(["a"]);
    expect(bus.peers.size).toBe(0);
    expect(flushes).toEqual([]);
  });

  it("a genuinely newer incarnation still replaces the peer (and flushes once), also when its clock reads earlier if the old one went silent", () => {
    const { bus, flushes, life, tick } = harness();
    const first = life(1_000);
    bus.receive(first.heartbeat());
    const second = life(2_000);
    bus.receive(second.heartbeat());
    expect(flushes).toHaveLength(1);
    // A third life whose clock was set back: while the second is live it looks late; once the second is silent, it is the peer.
    const third = life(1_500);
    bus.receive(third.heartbeat());
    expect(flushes).toHaveLength(1);
    tick(2_500);
    void bus.tick(); // the second life missed two heartbeats: suspect (flush)
    expect(flushes).toHaveLength(2);
    bus.receive(third.heartbeat());
    expect(flushes).toHaveLength(3);
    bus.receive(third.delete("x"));
    expect(flushes).toHaveLength(3);
    expect(bus.peers.size).toBe(1);
  });
});
