/**
 * The calendar arithmetic both quota scripts share, as one Lua fragment that
 * defines `periodEnd(ms, p, a)`: the end of the period containing `ms` for a
 * UTC day (p = 0), a calendar month (p = 1) or a billing month anchored on day
 * `a` (p = 2, clamped to short months). Days-from-civil and civil-from-days
 * are Howard Hinnant's algorithms, the same as periods.ts computes in
 * TypeScript for the memory store. Self-contained (its own locals), so a
 * script can splice it at top level or inside the one branch that needs it.
 */
export const PERIOD_END_LUA = `
local DAY = 86400000
local floor, min = math.floor, math.min
local function dfc(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil(days)
  local z = days + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end
local function nextm(y, m) if m == 12 then return y + 1, 1 end return y, m + 1 end
local function anchor(y, m, a)
  local ny, nm = nextm(y, m)
  return dfc(y, m, min(a, dfc(ny, nm, 1) - dfc(y, m, 1)))
end
local function periodEnd(ms, p, a)
  local today = floor(ms / DAY)
  if p == 0 then return (today + 1) * DAY end
  local y, m = civil(today)
  local ny, nm = nextm(y, m)
  if p == 2 then
    local this = anchor(y, m, a)
    if today >= this then return anchor(ny, nm, a) * DAY end
    return this * DAY
  end
  return dfc(ny, nm, 1) * DAY
end
`;
