import { PERIOD_BILLING, PERIOD_DAY } from "./store.js";

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 → [year, month 1-12, day 1-31] (proleptic Gregorian; H. Hinnant's civil algorithm). */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** [year, month 1-12, day] → days since 1970-01-01. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

export function daysInMonth(year: number, month: number): number {
  const nextYear = month === 12 ? year + 1 : year;
  const next = month === 12 ? 1 : month + 1;
  return daysFromCivil(nextYear, next, 1) - daysFromCivil(year, month, 1);
}

function anchorIn(year: number, month: number, anchorDay: number): number {
  return daysFromCivil(year, month, Math.min(anchorDay, daysInMonth(year, month)));
}

/**
 * The UTC period containing `nowMs`: `[startMs, endMs)`. The Redis script
 * implements the same arithmetic in Lua on Redis TIME; the contract suite
 * checks both agree.
 */
export function periodBounds(nowMs: number, period: number, anchorDay: number): [number, number] {
  const today = Math.floor(nowMs / DAY_MS);
  if (period === PERIOD_DAY) return [today * DAY_MS, (today + 1) * DAY_MS];
  const [y, m, d] = civilFromDays(today);
  const prev: [number, number] = m === 1 ? [y - 1, 12] : [y, m - 1];
  const next: [number, number] = m === 12 ? [y + 1, 1] : [y, m + 1];
  if (period === PERIOD_BILLING) {
    const thisAnchor = anchorIn(y, m, anchorDay);
    if (today >= thisAnchor) return [thisAnchor * DAY_MS, anchorIn(next[0], next[1], anchorDay) * DAY_MS];
    return [anchorIn(prev[0], prev[1], anchorDay) * DAY_MS, thisAnchor * DAY_MS];
  }
  void d;
  return [daysFromCivil(y, m, 1) * DAY_MS, daysFromCivil(next[0], next[1], 1) * DAY_MS];
}
