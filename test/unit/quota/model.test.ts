import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import type { Reservation } from "../../../src/quota/types.js";

const WS = "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01";

type Op =
  | { kind: "consume"; cost: number }
  | { kind: "reserve"; cost: number }
  | { kind: "commit"; index: number }
  | { kind: "release"; index: number }
  | { kind: "advance"; ms: number }
  | { kind: "reconcile"; actual: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("consume" as const), cost: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("reserve" as const), cost: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("commit" as const), index: fc.nat(20) }),
  fc.record({ kind: fc.constant("release" as const), index: fc.nat(20) }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 800 }) }),
  fc.record({ kind: fc.constant("reconcile" as const), actual: fc.nat(12) }),
);

describe("count quota against a reference model", () => {
  it("every decision and the final usage match the model; denials change nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const clock = new ManualClock();
        const guard = new QuotaGuard({ clock, policies: { plans: { p: { seats: { kind: "count", limit: 12, reservationTtlMs: 1_000 } } }, defaultPlan: "p" } });
        let used = 0;
        const holds = new Map<string, { cost: number; expiresAt: number }>();
        const reservations: Reservation[] = [];
        const held = () => {
          let total = 0;
          for (const [id, h] of holds) if (h.expiresAt <= clock.now()) holds.delete(id); else total += h.cost;
          return total;
        };
        for (const o of ops) {
          if (o.kind === "advance") clock.advance(o.ms);
          else if (o.kind === "consume" || o.kind === "reserve") {
            const expected = o.cost <= 12 - used - held();
            const d = (o.kind === "consume" ? await guard.consume({ workspaceId: WS, limit: "seats", cost: o.cost }) : await guard.reserve({ workspaceId: WS, limit: "seats", cost: o.cost }))._unsafeUnwrap();
            expect(d.allowed).toBe(expected);
            if (expected && o.kind === "consume") used += o.cost;
            if (expected && o.kind === "reserve") {
              holds.set(d.reservation!.id, { cost: o.cost, expiresAt: clock.now() + 1_000 });
              reservations.push(d.reservation!);
            }
            expect(d.remaining).toBe(Math.max(0, 12 - used - held()));
          } else if (o.kind === "commit" || o.kind === "release") {
            const r = reservations[o.index];
            if (r === undefined) continue;
            held();
            const h = holds.get(r.id);
            const result = (o.kind === "commit" ? await guard.commit({ reservation: r }) : await guard.release({ reservation: r }))._unsafeUnwrap();
            expect(result.found).toBe(h !== undefined);
            holds.delete(r.id);
            if (o.kind === "commit") used += h?.cost ?? r.items[0]!.cost;
          } else {
            (await guard.reconcile({ workspaceId: WS, limit: "seats", actual: o.actual }))._unsafeUnwrap();
            used = o.actual;
          }
        }
        const final = (await guard.check({ workspaceId: WS, limit: "seats" }))._unsafeUnwrap();
        expect(final.remaining).toBe(Math.max(0, 12 - used - held()));
      }),
      { numRuns: 300 },
    );
  });
});
