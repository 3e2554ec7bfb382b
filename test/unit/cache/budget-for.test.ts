import { describe, expect, it } from "vitest";
import type { TenancyLogger } from "../../../src/core/logger.js";
import { TenantCache } from "../../../src/cache/index.js";
import { wsId } from "./helpers.js";

describe("a budgetFor that throws", () => {
  it("is never an exception: the workspace gets the default budget and the failure is logged", async () => {
    const warnings: unknown[] = [];
    const logger = { warn: (fields: unknown) => void warnings.push(fields), info: () => undefined, error: () => undefined, debug: () => undefined } as unknown as TenancyLogger;
    const cache = new TenantCache<string>({
      maxBytes: 10_000,
      maxWorkspaceBytes: 5_000,
      logger,
      budgetFor: () => {
        throw new Error("plan service down");
      },
    });
    const A = wsId(1);
    const ws = cache.workspace(A);
    expect(ws.isOk()).toBe(true);
    const handle = ws._unsafeUnwrap();
    let loading: ReturnType<typeof handle.getOrLoad> | undefined;
    expect(() => (loading = handle.getOrLoad("k", () => "loaded"))).not.toThrow();
    expect((await loading)?._unsafeUnwrap()).toBe("loaded");
    expect(handle.set("k2", "v").isOk()).toBe(true);
    expect(cache.set({ workspaceId: wsId(2), key: "k", value: "v" }).isOk()).toBe(true);
    expect((await cache.getOrLoad({ workspaceId: wsId(3), key: "k" }, () => "v"))._unsafeUnwrap()).toBe("v");
    expect(cache.stats().workspaces.map((w) => w.maxBytes)).toEqual([5_000, 5_000, 5_000]);
    expect(warnings.length).toBeGreaterThan(0);
  });

  it("whose answer throws when read is handled the same way", () => {
    const cache = new TenantCache<string>({
      maxBytes: 10_000,
      budgetFor: () =>
        ({
          get maxBytes(): number {
            throw new Error("bad plan row");
          },
        }) as never,
    });
    expect(cache.set({ workspaceId: wsId(1), key: "k", value: "v" }).isOk()).toBe(true);
  });
});
