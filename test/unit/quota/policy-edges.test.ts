import { ok } from "neverthrow";
import { describe, expect, it } from "vitest";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { rateLimitHeaders } from "../../../src/quota/headers.js";
import { policiesFromEnv, StaticPolicySource, type PolicySource } from "../../../src/quota/policy.js";
import { MemoryQuotaStore } from "../../../src/quota/stores/memory.js";

/** Policies that are wrong in ways easy to miss: typos, deep families, changed kinds, null costs. */
const A = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";
const B = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02";
const C = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e03";

describe("quota policies: the edges", () => {
  it("refuses a field it does not know anywhere in the plans (a typo would otherwise change nothing, silently)", () => {
    const config = {
      plans: { p: { daily: { kind: "count", limit: 5, period: "day" }, billing: { kind: "period", period: "billingMonth", anchorDay: 15, anchorday: 16, limit: 9 } } },
      defaultPlan: "p",
      workspace: { [A]: { plan: "p" } },
      workspaces: { [B]: { plan: "p", overide: { daily: { kind: "count", limit: 9 } }, parent: A } },
    };
    const message = policiesFromEnv(JSON.stringify(config))._unsafeUnwrapErr().message;
    for (const field of ["period", "anchorday", "workspace", "overide", "parent"]) expect(message).toContain(`unknown field "${field}"`);
    expect(() => new StaticPolicySource(config as never)).toThrow(/unknown field "anchorday"/);
  });

  it("families are one level deep: a configured grandchild is refused, and one from a policy source gets PolicyUnavailable", async () => {
    const plans = { p: { m: { kind: "period", period: "month", limit: 10 } } } as const;
    const deep = { plans, defaultPlan: "p", workspaces: { [B]: { parentWorkspaceId: A }, [C]: { parentWorkspaceId: B } } };
    expect(policiesFromEnv(deep)._unsafeUnwrapErr().message).toMatch(/has a parent too; quota families are one level deep/);
    const parents: Record<string, string> = { [B]: A, [C]: B };
    const source: PolicySource = {
      resolve: async (id) => {
        const parent = parents[id];
        return ok(parent === undefined ? { limits: plans.p } : { limits: plans.p, parentWorkspaceId: parseWorkspaceId(parent)._unsafeUnwrap() });
      },
    };
    const guard = new QuotaGuard({ policies: source });
    expect((await guard.consume({ workspaceId: B, limit: "m" }))._unsafeUnwrap().allowed).toBe(true);
    const grandchild = (await guard.consume({ workspaceId: C, limit: "m" }))._unsafeUnwrapErr();
    expect(grandchild.type).toBe("PolicyUnavailable");
    expect(grandchild.message).toMatch(/one level deep/);
  });

  it("a limit whose kind changes under the same name starts afresh in the memory store (no exception, no inherited usage)", async () => {
    const source = new StaticPolicySource({
      plans: { period: { x: { kind: "period", period: "month", limit: 5 } }, count: { x: { kind: "count", limit: 5 } }, sliding: { x: { kind: "rate", algorithm: "slidingWindow", limit: 5, periodMs: 60_000 } } },
      defaultPlan: "period",
    });
    const guard = new QuotaGuard({ policies: source });
    for (let i = 0; i < 3; i++) (await guard.consume({ workspaceId: A, limit: "x" }))._unsafeUnwrap();
    source.assign(A, { plan: "count" });
    guard.invalidatePolicies(A);
    expect((await guard.reserve({ workspaceId: A, limit: "x" }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 4 });
    source.assign(A, { plan: "sliding" });
    guard.invalidatePolicies(A);
    expect((await guard.consume({ workspaceId: A, limit: "x" }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 4 });
    source.assign(A, { plan: "count" });
    guard.invalidatePolicies(A);
    expect((await guard.reserve({ workspaceId: A, limit: "x" }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 4 });
    source.assign(A, { plan: "period" });
    guard.invalidatePolicies(A);
    expect((await guard.consume({ workspaceId: A, limit: "x" }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 4 });
  });

  it("while a guard still holds the old policy, its checks and refunds never reset the new kind's usage", async () => {
    const store = new MemoryQuotaStore();
    const fresh = new QuotaGuard({ store, policies: { plans: { p: { x: { kind: "count", limit: 3 } } }, defaultPlan: "p" } });
    const stale = new QuotaGuard({ store, policies: { plans: { p: { x: { kind: "period", period: "month", limit: 3 } } }, defaultPlan: "p" } });
    let admitted = 0;
    for (let i = 0; i < 6; i++) {
      if ((await fresh.consume({ workspaceId: A, limit: "x" }))._unsafeUnwrap().allowed) admitted++;
      (await stale.check({ workspaceId: A, limit: "x" }))._unsafeUnwrap();
      const refund = await store.apply({ mode: "refund", items: [{ key: store.key(A, A, "x"), kind: 2, limit: 3, cost: 1, a: 1, b: 0 }], since: Date.now() });
      expect(refund.isOk()).toBe(true);
    }
    expect(admitted).toBe(3);
  });

  it("a null cost is an InvalidCost, not a cost of 1", async () => {
    const guard = new QuotaGuard({ policies: { plans: { p: { m: { kind: "period", period: "month", limit: 10 } } }, defaultPlan: "p" } });
    expect((await guard.consume({ workspaceId: A, limit: "m", cost: null as never }))._unsafeUnwrapErr().type).toBe("InvalidCost");
    expect((await guard.consume({ workspaceId: A, limits: [{ limit: "m", cost: null as never }] }))._unsafeUnwrapErr().type).toBe("InvalidCost");
    expect((await guard.check({ workspaceId: A, limit: "m" }))._unsafeUnwrap().remaining).toBe(10);
  });

  it("a full count limit with nothing reserved gets no Retry-After: waiting would not free it", async () => {
    const guard = new QuotaGuard({ policies: { plans: { p: { seats: { kind: "count", limit: 1 } } }, defaultPlan: "p" } });
    (await guard.consume({ workspaceId: A, limit: "seats" }))._unsafeUnwrap();
    const denied = (await guard.consume({ workspaceId: A, limit: "seats" }))._unsafeUnwrap();
    expect(denied).toMatchObject({ allowed: false, retryAfterMs: 0 });
    const headers = rateLimitHeaders(denied);
    expect(headers).not.toHaveProperty("Retry-After");
    expect(headers.RateLimit).toMatch(/r=0/);
  });
});
