import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { civilFromDays, daysFromCivil, periodBounds } from "../../../src/quota/periods.js";
import { PERIOD_BILLING, PERIOD_DAY, PERIOD_MONTH } from "../../../src/quota/store.js";

const DAY = 86_400_000;
const instant = fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2200, 0, 1) });

/** Reference implementation on the JS Date API (UTC). */
function reference(now: number, period: number, anchor: number): [number, number] {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (period === PERIOD_DAY) {
    const start = Date.UTC(y, m, d.getUTCDate());
    return [start, start + DAY];
  }
  if (period === PERIOD_MONTH) return [Date.UTC(y, m, 1), Date.UTC(y, m + 1, 1)];
  const anchorIn = (yy: number, mm: number) => Date.UTC(yy, mm, Math.min(anchor, new Date(Date.UTC(yy, mm + 1, 0)).getUTCDate()));
  const here = anchorIn(y, m);
  return now >= here ? [here, anchorIn(y, m + 1)] : [anchorIn(y, m - 1), here];
}

describe("period boundaries (UTC)", () => {
  it("civil date conversion round-trips and matches Date", () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), (days) => {
        const [y, m, d] = civilFromDays(days);
        expect(daysFromCivil(y, m, d)).toBe(days);
        const date = new Date(days * DAY);
        expect([y, m, d]).toEqual([date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()]);
      }),
    );
  });

  it("day, calendar month and billing month match a Date-based reference", () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 1, max: 31 }), (now, anchor) => {
        for (const period of [PERIOD_DAY, PERIOD_MONTH, PERIOD_BILLING]) {
          const [start, end] = periodBounds(now, period, anchor);
          expect([start, end]).toEqual(reference(now, period, anchor));
          expect(start <= now && now < end).toBe(true);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("billing months anchored on the 31st clamp to short months", () => {
    expect(periodBounds(Date.UTC(2026, 1, 15), PERIOD_BILLING, 31)).toEqual([Date.UTC(2026, 0, 31), Date.UTC(2026, 1, 28)]);
    expect(periodBounds(Date.UTC(2026, 1, 28), PERIOD_BILLING, 31)).toEqual([Date.UTC(2026, 1, 28), Date.UTC(2026, 2, 31)]);
    expect(periodBounds(Date.UTC(2028, 1, 29, 12), PERIOD_BILLING, 30)).toEqual([Date.UTC(2028, 1, 29), Date.UTC(2028, 2, 30)]);
  });
});
