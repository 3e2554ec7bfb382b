import { describe, expect, it } from "vitest";
import { TenantCache } from "../../../src/cache/index.js";
import { deferred, wsId } from "./helpers.js";

describe("stampede", () => {
  it("10,000 concurrent misses on one key call the loader once and all get its value", async () => {
    const cache = new TenantCache<{ journeys: string[] }>({ maxBytes: 1e6 });
    const ws = cache.workspace(wsId(7))._unsafeUnwrap();
    const gate = deferred<{ journeys: string[] }>();
    let calls = 0;
    const loader = async () => {
      calls++;
      // Yield several times so every caller is really waiting concurrently.
      await new Promise((r) => setTimeout(r, 5));
      return gate.promise;
    };
    const pending = Array.from({ length: 10_000 }, (_, i) =>
      i % 2 === 0 ? ws.getOrLoad("journeys", loader) : cache.getOrLoad({ workspaceId: wsId(7), key: "journeys" }, loader),
    );
    await new Promise((r) => setTimeout(r, 20));
    const value = { journeys: ["welcome"] };
    gate.resolve(value);
    const results = await Promise.all(pending);
    expect(calls).toBe(1);
    expect(results.every((r) => r._unsafeUnwrap() === value)).toBe(true);
  });

  it("10,000 concurrent failing misses share one failure, then the next call retries", async () => {
    const cache = new TenantCache<string>({ maxBytes: 1e6 });
    const ws = cache.workspace(wsId(8))._unsafeUnwrap();
    let calls = 0;
    const failing = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error("db down");
    };
    const results = await Promise.all(Array.from({ length: 10_000 }, () => ws.getOrLoad("k", failing)));
    expect(calls).toBe(1);
    expect(results.every((r) => r.isErr() && r.error.type === "LoaderFailed")).toBe(true);
    expect((await ws.getOrLoad("k", () => "back"))._unsafeUnwrap()).toBe("back");
    expect(calls).toBe(1);
  });
});
