import fc from "fast-check";
import type { Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/index.js";
import { parseUsagePlans, TenantMetrics } from "../../../src/metrics/index.js";
import { badId, expectErrIff, expectTypedErr, hugeString, isValidId, nonString, noThrow, str, throwingProxy, throwingToString, W, W2 } from "./hostile-values.js";

const DECLARED = { sent: "counter", active: "upDownCounter", depth: "gauge", latency_ms: "histogram" } as const;
type Kind = (typeof DECLARED)[keyof typeof DECLARED];
const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const metricName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...Object.keys(DECLARED)) },
  { weight: 1, arbitrary: fc.constantFrom("SENT", "sent ", "__proto__", "constructor", "toString", "", "new_metric", "latency-ms") },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: hugeString },
  { weight: 3, arbitrary: nonString },
);
const metricValue = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1, -1, NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MIN_VALUE) },
  { weight: 2, arbitrary: fc.oneof(fc.constantFrom("1", 1n), nonString) },
);
/** Whether `value` may be recorded into a metric of `kind` (docs/metrics.md). */
const goodValue = (kind: Kind, value: unknown) => typeof value === "number" && Number.isFinite(value) && !(kind === "counter" && value < 0);

type MetricsOp =
  | { op: "add" | "set" | "observe"; workspaceId: unknown; metric: unknown; value: unknown }
  | { op: "bound"; instrument: Kind; metric: unknown; value: unknown }
  | { op: "sink"; method: "add" | "observe"; workspaceId: unknown; metric: unknown; value: unknown };
const metricsWorkspace = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(W, W2) }, { weight: 1, arbitrary: badId });
const metricsOp: fc.Arbitrary<MetricsOp> = fc.oneof(
  fc.record({ op: fc.constantFrom("add" as const, "set" as const, "observe" as const), workspaceId: metricsWorkspace, metric: metricName, value: metricValue }),
  fc.record({ op: fc.constant("bound" as const), instrument: fc.constantFrom<Kind>("counter", "upDownCounter", "gauge", "histogram"), metric: metricName, value: metricValue }),
  fc.record({ op: fc.constant("sink" as const), method: fc.constantFrom("add" as const, "observe" as const), workspaceId: metricsWorkspace, metric: metricName, value: metricValue }),
);

describe("TenantMetrics", () => {
  it("hostile names, values and ids: Err exactly for bad input and nothing recorded; the sink never throws and counts what it drops", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(metricsOp, { minLength: 1, maxLength: 12 }), async (ops) => {
        const metrics = new TenantMetrics({ clock: new ManualClock(), maxWorkspaces: 16 });
        metrics.counter("sent");
        metrics.upDownCounter("active");
        metrics.gauge("depth");
        metrics.histogram("latency_ms");
        const sink = metrics.sink();
        const handle = metrics.workspace(W)._unsafeUnwrap();
        /** Kinds of every declared metric, including the ones the sink declares on first use. */
        const kinds = new Map<unknown, Kind>(Object.entries(DECLARED));
        const state = () => JSON.stringify([metrics.stats(), metrics.snapshot()]);
        for (const op of ops) {
          const what = `${op.op}(${str(op)})`;
          const before = state();
          if (op.op === "sink") {
            const kind = op.method === "add" ? "counter" : "histogram";
            if (typeof op.metric === "string" && METRIC_NAME.test(op.metric) && op.metric !== "__proto__" && !kinds.has(op.metric)) kinds.set(op.metric, kind);
            const applied = kinds.get(op.metric) === kind && isValidId(op.workspaceId) && goodValue(kind, op.value);
            const dropped = sink.dropped();
            await noThrow(what, () => sink[op.method](op.workspaceId as never, op.metric as never, op.value as never));
            expect(sink.dropped() - dropped, `${what}: dropped`).toBe(applied ? 0 : 1);
            continue;
          }
          let result: Result<unknown, unknown>;
          let bad: boolean;
          if (op.op === "bound") {
            bad = kinds.get(op.metric) !== op.instrument || !goodValue(op.instrument, op.value);
            const metric = op.metric as never;
            const value = op.value as never;
            result = await noThrow(what, () => {
              switch (op.instrument) {
                case "counter":
                  return handle.counter(metric).add(value);
                case "upDownCounter":
                  return handle.upDownCounter(metric).add(value);
                case "gauge":
                  return handle.gauge(metric).set(value);
                case "histogram":
                  return handle.histogram(metric).record(value);
              }
            });
          } else {
            const wanted = op.op === "add" ? ["counter", "upDownCounter"] : op.op === "set" ? ["gauge"] : ["histogram"];
            const kind = kinds.get(op.metric);
            bad = kind === undefined || !wanted.includes(kind) || !isValidId(op.workspaceId) || !goodValue(kind, op.value);
            const input = { workspaceId: op.workspaceId as never, metric: op.metric as never, value: op.value as never };
            const method = op.op;
            result = await noThrow(what, () => metrics[method](input));
          }
          expectErrIff(result, bad, what);
          if (result.isErr()) expect(state(), `${what} must record nothing`).toBe(before);
        }
      }),
      { numRuns: 150 },
    );
  });
});

/**
 * The minimal counterexamples the properties above found, fixed in src/ and
 * kept as plain cases. Each threw, rejected, or answered Ok before its fix.
 */
describe("regressions (counterexamples found by the properties)", () => {
  it("metrics: names of any type are UnknownMetric, a missing argument is an Err, and the sink never throws", async () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    metrics.counter("sent");
    const handle = metrics.workspace(W)._unsafeUnwrap();
    expectTypedErr(await noThrow("add bigint", () => metrics.add({ workspaceId: W, metric: 10n as never, value: 1 })), "add", ["UnknownMetric"]);
    expectTypedErr(await noThrow("handle bigint", () => handle.counter(10n as never).add(1)), "handle", ["UnknownMetric"]);
    expectTypedErr(await noThrow("add proxy", () => metrics.add({ workspaceId: W, metric: throwingProxy() as never, value: 1 })), "add", ["UnknownMetric"]);
    expectTypedErr(await noThrow("add(null)", () => metrics.add(null as never)), "add(null)", ["UnknownMetric"]);
    expectTypedErr(await noThrow("usage(null)", () => metrics.usage(null as never)), "usage(null)", ["InvalidWorkspaceId"]);
    const sink = metrics.sink();
    for (const name of [null, undefined, ["sent"], Symbol("s"), throwingToString()]) {
      const dropped = sink.dropped();
      await noThrow("sink.add", () => sink.add(W as never, name as never, 1));
      expect(sink.dropped()).toBe(dropped + 1);
    }
    expect(metrics.metrics().map((m) => m.name)).toEqual(["sent"]);
  });

  it("metrics: a handle asked for a name as another kind than it was bound gets an Err, not the other instrument (it threw)", async () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    metrics.histogram("latency_ms");
    metrics.counter("sent");
    const handle = metrics.workspace(W)._unsafeUnwrap();
    expect(handle.histogram("latency_ms").record(1).isOk()).toBe(true);
    expectTypedErr(await noThrow("counter(histogram name)", () => handle.counter("latency_ms").add(1)), "counter", ["UnknownMetric"]);
    expect(handle.counter("sent").add(1).isOk()).toBe(true);
    // Before the fix this returned the bound counter, so the up-down add of +1 went into a monotonic counter.
    expectTypedErr(await noThrow("upDownCounter(counter name)", () => handle.upDownCounter("sent").add(1)), "upDownCounter", ["UnknownMetric"]);
    expect(metrics.usage({ workspaceId: W })._unsafeUnwrap().values.sent).toBe(1);
  });

  it("metrics: __proto__ is no metric name (usage() reported nothing for it)", () => {
    const metrics = new TenantMetrics({ clock: new ManualClock() });
    expect(() => metrics.counter("__proto__")).toThrow(TypeError);
    const sink = metrics.sink();
    sink.add(W as never, "__proto__", 1);
    expect(sink.dropped()).toBe(1);
    expect(metrics.metrics()).toEqual([]);
  });
  it("usage plans file: a plan or metric named __proto__ is a name like any other (assigning it replaced the object's prototype)", () => {
    const parsed = parseUsagePlans(JSON.parse(`{"plans": {"__proto__": {"sent": 5}, "free": {"__proto__": 3}}, "workspaces": {"${W}": "__proto__"}}`));
    const { plans, workspaces } = parsed._unsafeUnwrap();
    expect(Object.keys(plans)).toEqual(["__proto__", "free"]);
    expect(plans["__proto__"]?.["sent"]).toBe(5);
    expect(Object.keys(plans["free"] ?? {})).toEqual(["__proto__"]);
    expect(workspaces[W]).toBe("__proto__");
  });
});
