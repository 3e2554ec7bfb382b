import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TenantMetrics } from "../../../src/metrics/index.js";
import { rng, uniformSampler, workspaceIds, zipfSampler } from "./workloads.js";

const usage = (metrics: TenantMetrics, id: string) => metrics.usage({ workspaceId: id })._unsafeUnwrap();

describe("Space-Saving victims are always a current minimum", () => {
  it("a queued slot that grew after the queue was built is not evicted (values stay upper bounds)", () => {
    const metrics = new TenantMetrics({ maxWorkspaces: 128, idleTtlMs: 0 });
    metrics.counter("messages_sent");
    const ids = workspaceIds(131, 17);
    const add = (id: string, value: number) => metrics.add({ workspaceId: id, metric: "messages_sent", value })._unsafeUnwrap();
    const tracked = ids.slice(0, 128);
    const [n1 = "", n2 = "", n3 = ""] = ids.slice(128);
    const w1 = tracked[1] ?? "";
    for (const id of tracked) add(id, 1);
    add(n1, 1); // table full: the scan queues the smallest slots (slots 0 and 1) and evicts slot 0
    add(w1, 1_000); // queued slot 1 (W1) grows to 1,001
    add(n2, 1); // must not evict W1: it is no longer a minimum
    expect(usage(metrics, n2).values.messages_sent).toBe(2);
    expect(usage(metrics, w1)).toMatchObject({ tracked: true, values: { messages_sent: 1_001 } });
    add(w1, 1);
    add(n3, 1);
    const w1Usage = usage(metrics, w1);
    expect(w1Usage.values.messages_sent).toBeGreaterThanOrEqual(1_002); // true usage
    expect((w1Usage.values.messages_sent ?? 0) - (w1Usage.errors.messages_sent ?? 0)).toBeLessThanOrEqual(1_002);
    expect(metrics.stats().errorBound).toBeLessThanOrEqual(2);
  });

  const stream = fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
    // ≥ 128 slots so the victim queue holds more than one slot.
    capacity: fc.integer({ min: 128, max: 400 }),
    spread: fc.double({ min: 1.2, max: 5, noNaN: true }),
    events: fc.integer({ min: 200, max: 6_000 }),
    zipf: fc.boolean(),
    skew: fc.double({ min: 0.6, max: 1.6, noNaN: true }),
    bigIncrements: fc.boolean(),
    checkEvery: fc.integer({ min: 1, max: 60 }),
  });

  it("for every tracked workspace: value ≥ true value and value − error ≤ true value, under random streams (property)", () => {
    fc.assert(
      fc.property(stream, ({ seed, capacity, spread, events, zipf, skew, bigIncrements, checkEvery }) => {
        const metrics = new TenantMetrics({ maxWorkspaces: capacity, idleTtlMs: 0 });
        metrics.counter("messages_sent"); // the ranking metric (first counter)
        metrics.counter("bytes_sent");
        metrics.histogram("latency_ms", { boundaries: [10] });
        const n = Math.ceil(capacity * spread);
        const ids = workspaceIds(n, seed);
        const draw = zipf ? zipfSampler(n, skew, seed + 1) : uniformSampler(n, seed + 1);
        const next = rng(seed + 2);
        const truth = new Map<string, { sent: number; bytes: number; count: number }>();
        const check = () => {
          for (const u of metrics.snapshot()) {
            const t = truth.get(u.workspaceId) ?? { sent: 0, bytes: 0, count: 0 };
            const sent = u.values.messages_sent ?? 0;
            const sentError = u.errors.messages_sent ?? 0;
            // The ranking metric: Space-Saving's guarantee, both sides.
            if (sent < t.sent) throw new Error(`${u.workspaceId}: reported ${sent} < true ${t.sent} (error ${sentError})`);
            if (sent - sentError > t.sent) throw new Error(`${u.workspaceId}: reported ${sent} − error ${sentError} > true ${t.sent}`);
            // Other metrics inherit the victim's values too; what is left after the error is always real.
            const bytes = u.values.bytes_sent ?? 0;
            if (bytes - (u.errors.bytes_sent ?? 0) > t.bytes) throw new Error(`${u.workspaceId}: bytes ${bytes} − error > true ${t.bytes}`);
            const count = u.histograms.latency_ms?.count ?? 0;
            if (count - (u.errors.latency_ms ?? 0) > t.count) throw new Error(`${u.workspaceId}: count ${count} − error > true ${t.count}`);
          }
        };
        for (let e = 1; e <= events; e++) {
          const id = ids[draw()] ?? "";
          const r = next();
          // Mostly small increments with occasional bursts, so queued slots really grow.
          const inc = bigIncrements ? Math.floor(r ** 4 * 5_000) : 1 + Math.floor(r * 3);
          metrics.add({ workspaceId: id, metric: "messages_sent", value: inc });
          const t = truth.get(id) ?? { sent: 0, bytes: 0, count: 0 };
          t.sent += inc;
          if (e % 3 === 0) {
            metrics.add({ workspaceId: id, metric: "bytes_sent", value: 100 });
            t.bytes += 100;
          }
          metrics.observe({ workspaceId: id, metric: "latency_ms", value: 5 });
          t.count++;
          truth.set(id, t);
          if (e % checkEvery === 0) check();
        }
        check();
        expect(metrics.stats().tracked).toBeLessThanOrEqual(capacity);
      }),
      { numRuns: 60 },
    );
  });
});
