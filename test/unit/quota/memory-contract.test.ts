import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { MemoryQuotaStore } from "../../../src/quota/stores/memory.js";
import { runQuotaStoreContract } from "../../../src/testing/quota-contract.js";

runQuotaStoreContract({ describe, it, expect } as never, "memory", () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 27, 12));
  const store = new MemoryQuotaStore({ clock });
  return { store, clock, now: () => clock.now(), advance: async (ms) => clock.advance(ms) };
});
