import { describe, expect, it } from "vitest";
import { ManualClock, skewedClock } from "../../../src/core/clock.js";
import { describeThrown, invalidInput, storeUnavailable, tenancyError } from "../../../src/core/errors.js";
import { seededRandom, systemRandom } from "../../../src/core/random.js";

describe("errors", () => {
  it("are plain serialisable objects discriminated on type", () => {
    const error = storeUnavailable("redis down", { workspaceId: "w" });
    expect(error).toEqual({ type: "StoreUnavailable", message: "redis down", retryable: true, workspaceId: "w" });
    expect(JSON.parse(JSON.stringify(error))).toEqual(error);
    expect(invalidInput("bad")).toEqual({ type: "InvalidInput", message: "bad", retryable: false });
    expect("cause" in tenancyError("X", "m")).toBe(false);
  });

  it("describes anything thrown", () => {
    expect(describeThrown(new Error("boom"))).toBe("boom");
    expect(describeThrown("s")).toBe("s");
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeThrown(cyclic)).toBe("[object Object]");
  });
});

describe("clock and random injection", () => {
  it("ManualClock moves only when told", () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(500);
    expect(clock.now()).toBe(1_500);
    expect(skewedClock(-5_000, clock).now()).toBe(-3_500);
  });

  it("seededRandom is deterministic and systemRandom is not", () => {
    expect(seededRandom(7).bytes(16)).toEqual(seededRandom(7).bytes(16));
    expect(seededRandom(7).bytes(16)).not.toEqual(seededRandom(8).bytes(16));
    expect(systemRandom.bytes(16)).not.toEqual(systemRandom.bytes(16));
  });
});
