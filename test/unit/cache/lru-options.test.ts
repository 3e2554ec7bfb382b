import { describe, expect, it } from "vitest";
import { TenantCache } from "../../../src/cache/index.js";
import { wsId } from "./helpers.js";

describe("lru-cache diagnostics", () => {
  // Every LRU set shares one options object; lru-cache writes a status object
  // into it while its diagnostics channel has subscribers. Each set must still
  // publish its own status (the shared object must not carry the last one over).
  it("each set publishes its own status while lru-cache:metrics has a subscriber", async () => {
    const dc = await import("node:diagnostics_channel");
    const seen: { op?: string; key?: string }[] = [];
    const listener = (message: unknown): void => {
      seen.push(message as { op?: string; key?: string });
    };
    dc.subscribe("lru-cache:metrics", listener);
    try {
      const a = new TenantCache<string>({ maxBytes: 1e6 }).workspace(wsId(2))._unsafeUnwrap();
      a.set("first", "1");
      a.set("second", "2");
      const sets = seen.filter((m) => m.op === "set");
      expect(sets.map((m) => m.key)).toEqual(["first", "second"]);
      expect(sets[0]).not.toBe(sets[1]);
      expect(a.get("first")._unsafeUnwrap()).toBe("1");
    } finally {
      dc.unsubscribe("lru-cache:metrics", listener);
    }
  });
});
