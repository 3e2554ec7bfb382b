import { randomUUID } from "node:crypto";
import type { Clock } from "../core/clock.js";
import { QuotaGuard } from "../quota/guard.js";
import { periodBounds } from "../quota/periods.js";
import {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  PERIOD_BILLING,
  PERIOD_MONTH,
  type QuotaStore,
} from "../quota/store.js";
import type { Decision, Plan } from "../quota/types.js";

/** The test functions of vitest or Jest; passed in so Jest users can run the suite too. */
export interface ContractTestApi {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => Promise<void>, timeout?: number) => void;
  expect: (value: unknown) => {
    toBe(expected: unknown): void;
    toEqual(expected: unknown): void;
    toMatchObject(expected: object): void;
    toBeGreaterThan(n: number): void;
    toBeGreaterThanOrEqual(n: number): void;
    toBeLessThanOrEqual(n: number): void;
    toContain(item: unknown): void;
  };
}

export interface QuotaContractHarness {
  readonly store: QuotaStore;
  /** The clock the guard uses (policy cache); the store may keep its own time (Redis TIME). */
  readonly clock?: Clock;
  /** Lets `ms` of store time pass (advance a manual clock, or sleep for a real one). */
  advance(ms: number): Promise<void>;
  /** The store's current time, to compare reset instants. @default Date.now */
  now?(): number;
}

const PLAN: Plan = {
  segments: { kind: "count", limit: 5, reservationTtlMs: 60_000 },
  // Short TTLs only where a test waits for expiry (the wait is a lower bound, so it cannot flake).
  drafts: { kind: "count", limit: 5, reservationTtlMs: 1_000 },
  messagesPerDay: { kind: "period", period: "day", limit: 10 },
  messagesPerMonth: { kind: "period", period: "month", limit: 3 },
  billing: { kind: "period", period: "billingMonth", anchorDay: 31, limit: 3 },
  ingest: { kind: "rate", limit: 5, periodMs: 60_000 },
  fastRate: { kind: "rate", limit: 10, periodMs: 5_000, burst: 2 },
  sliding: { kind: "rate", algorithm: "slidingWindow", limit: 4, periodMs: 60_000 },
  exports: { kind: "concurrency", limit: 2, leaseTtlMs: 60_000 },
  shortExports: { kind: "concurrency", limit: 1, leaseTtlMs: 1_000 },
  shadowed: { kind: "count", limit: 1, shadow: true },
};
const PARENT_PLAN: Plan = { segments: { kind: "count", limit: 6 }, messagesPerDay: { kind: "period", period: "day", limit: 5 } };

/**
 * The QuotaGuard store contract: every adapter (memory, Redis, Redis Cluster,
 * Postgres) must give the same decisions. Tests for kinds a store does not
 * support are not registered for it.
 */
export function runQuotaStoreContract(t: ContractTestApi, name: string, make: () => QuotaContractHarness): void {
  const { describe, it, expect } = t;
  describe(`QuotaGuard store contract: ${name}`, () => {
    const h = make();
    const has = (kind: number) => h.store.kinds.includes(kind);
    const setup = () => {
      const parent = randomUUID();
      const child = randomUUID();
      const sibling = randomUUID();
      const solo = randomUUID();
      const guard = new QuotaGuard({
        store: h.store,
        ...(h.clock === undefined ? {} : { clock: h.clock }),
        policies: {
          plans: { std: PLAN, agency: PARENT_PLAN },
          defaultPlan: "std",
          workspaces: { [parent]: { plan: "agency" }, [child]: { parentWorkspaceId: parent }, [sibling]: { parentWorkspaceId: parent } },
        },
      });
      return { guard, parent, child, sibling, solo };
    };
    const value = (r: { isOk(): boolean; _unsafeUnwrap(): Decision }) => {
      expect(r.isOk()).toBe(true);
      return r._unsafeUnwrap();
    };

    if (has(KIND_COUNT)) {
      it("count: reserve, commit and release; a denial consumes nothing", async () => {
        const { guard, solo } = setup();
        const a = value(await guard.reserve({ workspaceId: solo, limit: "segments", cost: 3 }));
        expect(a).toMatchObject({ allowed: true, remaining: 2 });
        const denied = value(await guard.reserve({ workspaceId: solo, limit: "segments", cost: 3 }));
        expect(denied).toMatchObject({ allowed: false, reason: { limit: "segments", scope: "own" } });
        expect(denied.reservation).toBe(undefined);
        expect((await guard.commit({ reservation: a.reservation! }))._unsafeUnwrap()).toEqual({ found: true });
        const b = value(await guard.reserve({ workspaceId: solo, limit: "segments", cost: 2 }));
        expect(b.remaining).toBe(0);
        expect((await guard.release({ reservation: b.reservation! }))._unsafeUnwrap()).toEqual({ found: true });
        expect(value(await guard.consume({ workspaceId: solo, limit: "segments", cost: 2 }))).toMatchObject({ allowed: true, remaining: 0 });
        expect(value(await guard.check({ workspaceId: solo, limit: "segments" }))).toMatchObject({ allowed: false, remaining: 0 });
      });

      it("count: an abandoned reservation expires and its capacity returns", async () => {
        const { guard, solo } = setup();
        const held = value(await guard.reserve({ workspaceId: solo, limit: "drafts", cost: 5 }));
        expect(value(await guard.check({ workspaceId: solo, limit: "drafts" })).allowed).toBe(false);
        await h.advance(1_100);
        expect(value(await guard.check({ workspaceId: solo, limit: "drafts", cost: 5 })).allowed).toBe(true);
        // Committing after expiry still counts the resource (it exists), and says the hold was gone.
        expect((await guard.commit({ reservation: held.reservation! }))._unsafeUnwrap()).toEqual({ found: false });
        expect(value(await guard.check({ workspaceId: solo, limit: "drafts" })).allowed).toBe(false);
      });

      it("count: reconcile resets usage from the true count", async () => {
        const { guard, solo } = setup();
        await guard.consume({ workspaceId: solo, limit: "segments", cost: 5 });
        const r = value(await guard.reconcile({ workspaceId: solo, limit: "segments", actual: 1 }));
        expect(r.remaining).toBe(4);
        expect(value(await guard.consume({ workspaceId: solo, limit: "segments", cost: 4 })).allowed).toBe(true);
        expect(value(await guard.consume({ workspaceId: solo, limit: "segments" })).allowed).toBe(false);
      });

      it("hierarchy: a child is checked against its parent's aggregate, all-or-nothing", async () => {
        const { guard, parent, child, sibling } = setup();
        expect(value(await guard.consume({ workspaceId: child, limit: "segments", cost: 4 })).allowed).toBe(true);
        const denied = value(await guard.consume({ workspaceId: sibling, limit: "segments", cost: 3 }));
        expect(denied).toMatchObject({ allowed: false, reason: { limit: "segments", scope: "parent", workspaceId: parent } });
        // The sibling's own usage was not touched by the denied call.
        const own = value(await guard.check({ workspaceId: sibling, limit: "segments", cost: 2 }));
        expect(own.allowed).toBe(true);
        expect(own.limits.find((l) => l.scope === "own")?.remaining).toBe(5);
        expect(value(await guard.consume({ workspaceId: sibling, limit: "segments", cost: 2 })).allowed).toBe(true);
        expect(value(await guard.check({ workspaceId: parent, limit: "segments" })).allowed).toBe(false);
      });

      it("bad input is a typed error and consumes nothing", async () => {
        const { guard, solo } = setup();
        const cases: [unknown, unknown, string][] = [
          ["not-a-uuid", 1, "InvalidWorkspaceId"],
          [solo, 0, "InvalidCost"],
          [solo, -1, "InvalidCost"],
          [solo, 1.5, "InvalidCost"],
          [solo, Number.NaN, "InvalidCost"],
          [solo, Number.POSITIVE_INFINITY, "InvalidCost"],
          [solo, 6, "CostExceedsLimit"],
        ];
        for (const [workspaceId, cost, type] of cases) {
          const r = await guard.consume({ workspaceId: workspaceId as string, limits: [{ limit: "messagesPerDay", cost: 1 }, { limit: "segments", cost: cost as number }] });
          expect(r.isErr() ? r._unsafeUnwrapErr().type : "ok").toBe(type);
        }
        const unknown = await guard.consume({ workspaceId: solo, limits: [{ limit: "segments" }, { limit: "nope" }] });
        expect(unknown.isErr() ? unknown._unsafeUnwrapErr().type : "ok").toBe("UnknownLimit");
        expect(value(await guard.check({ workspaceId: solo, limit: "segments", cost: 5 })).allowed).toBe(true);
      });

      it("shadow limits report a denial but allow", async () => {
        const { guard, solo } = setup();
        expect(value(await guard.consume({ workspaceId: solo, limit: "shadowed" }))).toMatchObject({ allowed: true, shadowDenied: false });
        expect(value(await guard.consume({ workspaceId: solo, limit: "shadowed" }))).toMatchObject({ allowed: true, shadowDenied: true });
      });
    }

    if (has(KIND_PERIOD)) {
      it("period: a UTC day quota with an exact reset instant", async () => {
        const { guard, solo } = setup();
        for (let i = 0; i < 10; i++) expect(value(await guard.consume({ workspaceId: solo, limit: "messagesPerDay" })).allowed).toBe(true);
        const before = (h.now ?? Date.now)();
        const denied = value(await guard.consume({ workspaceId: solo, limit: "messagesPerDay" }));
        const end = periodBounds(before, 0, 1)[1];
        expect(denied).toMatchObject({ allowed: false, limit: 10, remaining: 0, resetAt: end });
        expect(denied.retryAfterMs).toBeLessThanOrEqual(end - before);
        expect(denied.retryAfterMs).toBeGreaterThan(end - before - 5_000);
      });

      it("period: calendar and billing months reset at their boundaries", async () => {
        const { guard, solo } = setup();
        const now = (h.now ?? Date.now)();
        const month = value(await guard.consume({ workspaceId: solo, limit: "messagesPerMonth", cost: 3 }));
        expect(month).toMatchObject({ allowed: true, remaining: 0, resetAt: periodBounds(now, PERIOD_MONTH, 1)[1] });
        const billing = value(await guard.consume({ workspaceId: solo, limit: "billing", cost: 2 }));
        expect(billing).toMatchObject({ allowed: true, remaining: 1, resetAt: periodBounds(now, PERIOD_BILLING, 31)[1] });
      });

      it("multi-limit: all-or-nothing across limits and the parent", async () => {
        const { guard, child, sibling } = setup();
        expect(value(await guard.consume({ workspaceId: sibling, limit: "messagesPerDay", cost: 3 })).allowed).toBe(true);
        const denied = value(await guard.consume({ workspaceId: child, limits: [{ limit: "segments", cost: 2 }, { limit: "messagesPerDay", cost: 3 }] }));
        expect(denied).toMatchObject({ allowed: false, reason: { limit: "messagesPerDay", scope: "parent" } });
        expect(value(await guard.check({ workspaceId: child, limit: "segments", cost: 5 })).allowed).toBe(true);
        const ok2 = value(await guard.consume({ workspaceId: child, limits: [{ limit: "segments", cost: 2 }, { limit: "messagesPerDay", cost: 2 }] }));
        expect(ok2.allowed).toBe(true);
        expect(ok2.limits.length).toBe(4);
      });
    }

    if (has(KIND_GCRA)) {
      it("rate (GCRA): burst, then denial with the exact wait, then refill", async () => {
        const { guard, solo } = setup();
        expect(value(await guard.consume({ workspaceId: solo, limit: "fastRate", cost: 2 })).allowed).toBe(true);
        const denied = value(await guard.consume({ workspaceId: solo, limit: "fastRate" }));
        expect(denied.allowed).toBe(false);
        expect(denied.retryAfterMs).toBeLessThanOrEqual(500);
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        await h.advance(1_100);
        expect(value(await guard.consume({ workspaceId: solo, limit: "fastRate", cost: 2 })).allowed).toBe(true);
        const slow = value(await guard.consume({ workspaceId: solo, limit: "ingest", cost: 5 }));
        expect(slow).toMatchObject({ allowed: true, remaining: 0 });
        expect(value(await guard.consume({ workspaceId: solo, limit: "ingest" })).allowed).toBe(false);
      });
    }

    if (has(KIND_SLIDING)) {
      it("rate (sliding window): limit per window", async () => {
        const { guard, solo } = setup();
        expect(value(await guard.consume({ workspaceId: solo, limit: "sliding", cost: 4 })).allowed).toBe(true);
        expect(value(await guard.consume({ workspaceId: solo, limit: "sliding" }))).toMatchObject({ allowed: false, reason: { kind: "rate" } });
      });
    }

    if (has(KIND_COUNT) && has(KIND_PERIOD) && has(KIND_SLIDING)) {
      it("a limit whose kind changes under the same name starts afresh: no error, no inherited usage", async () => {
        const kinds: Record<string, Plan> = {
          period: { x: { kind: "period", period: "month", limit: 5 } },
          count: { x: { kind: "count", limit: 5 } },
          sliding: { x: { kind: "rate", algorithm: "slidingWindow", limit: 5, periodMs: 60_000 } },
          concurrency: { x: { kind: "concurrency", limit: 5 } },
        };
        const guardOn = (plan: string) =>
          new QuotaGuard({ store: h.store, ...(h.clock === undefined ? {} : { clock: h.clock }), policies: { plans: kinds, defaultPlan: plan } });
        const pairs = [["period", "count"], ["count", "period"], ["sliding", "count"], ["count", "sliding"], ["period", "sliding"], ["count", "concurrency"]] as const;
        for (const [before, after] of pairs) {
          const solo = randomUUID();
          expect(value(await guardOn(before).consume({ workspaceId: solo, limit: "x", cost: 3 })).allowed).toBe(true);
          const next = guardOn(after);
          const holds = after === "count" || after === "concurrency";
          const decision = holds ? next.reserve({ workspaceId: solo, limit: "x" }) : next.consume({ workspaceId: solo, limit: "x" });
          expect({ change: `${before} -> ${after}`, ...value(await decision) }).toMatchObject({ change: `${before} -> ${after}`, allowed: true, remaining: 4 });
        }
      });
    }

    if (has(KIND_CONCURRENCY)) {
      it("concurrency: leases up to the limit, released explicitly or on expiry", async () => {
        const { guard, solo } = setup();
        const a = value(await guard.acquire({ workspaceId: solo, limit: "exports" }));
        value(await guard.acquire({ workspaceId: solo, limit: "exports" }));
        expect(value(await guard.acquire({ workspaceId: solo, limit: "exports" })).allowed).toBe(false);
        await guard.release({ reservation: a.reservation! });
        expect(value(await guard.acquire({ workspaceId: solo, limit: "exports" })).allowed).toBe(true);
        expect(value(await guard.acquire({ workspaceId: solo, limit: "shortExports" })).allowed).toBe(true);
        expect(value(await guard.acquire({ workspaceId: solo, limit: "shortExports" })).allowed).toBe(false);
        await h.advance(1_100);
        expect(value(await guard.acquire({ workspaceId: solo, limit: "shortExports" })).allowed).toBe(true);
        const consumed = await guard.consume({ workspaceId: solo, limit: "exports" });
        expect(consumed.isErr() ? consumed._unsafeUnwrapErr().type : "ok").toBe("InvalidInput");
      });
    }
  });
}
