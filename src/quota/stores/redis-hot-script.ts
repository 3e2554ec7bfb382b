import { defineScript } from "../../core/redis/script.js";
import { PERIOD_END_LUA } from "./redis-calendar.js";
import { EXPIRY_LUA } from "./redis-expiry.js";
import { tatStringLua } from "./redis-layout.js";

/**
 * `consume`/`check` over rate (GCRA), period and sliding-window items only:
 * the shape almost every decision has. Same formulas as the general script
 * (redis-script.ts) for these modes, in three Redis commands whatever the
 * number of items: TIME, one HMGET of the family hash, one HSET (plus a
 * PEXPIREAT when the hash's expiry must grow, about once an hour per family).
 * Lua re-creates a script's local functions on every run, so the calendar
 * arithmetic lives inside the branch that needs it (a period that is new or
 * has ended: once per key per period).
 *
 * KEYS: the family hash (redis-layout.ts).
 * ARGV[1]: JSON `[check, nf, field1 … field(nf-1), "x", then per item: kind, limit, cost, a, b]`;
 *   fields per item: GCRA 1 (TAT), period 2 (end, used), sliding 3 (window, current, previous).
 * Returns: failed (0-based, -1 when allowed), now, then per item remaining, resetAt, retryAfterMs.
 */
const SOURCE = `
local p = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nf = p[2]
local h = redis.call('HMGET', KEYS[1], unpack(p, 3, 2 + nf))
local floor, ceil = math.floor, math.ceil
local o0 = 3 + nf
local n = (#p - o0 + 1) / 5
-- One flat table of per-item state (4 slots each); each table a script creates costs Redis time.
local S = {}
local failed = -1
local fi = 1
for i = 1, n do
  local o = o0 + (i - 1) * 5
  local k, lim, cost, a, b = p[o], p[o + 1], p[o + 2], p[o + 3], p[o + 4]
  local s = (i - 1) * 4
  local avail
  if k == 3 then
    local tat = tonumber(h[fi]) or 0
    fi = fi + 1
    if tat < now then tat = now end
    S[s + 1] = tat
    local T = a / lim
    avail = floor((now + b * T - tat) / T + 1e-9)
  elseif k == 2 then
    local stored = tonumber(h[fi])
    local e = stored
    if stored == nil or stored <= now then
      -- New or finished period: the calendar, defined only in this branch (once per key per period).
${PERIOD_END_LUA}
      e = periodEnd(now, a, b)
    end
    local used = 0
    if stored == e then used = tonumber(h[fi + 1]) or 0 end
    fi = fi + 2
    S[s + 1], S[s + 2], S[s + 3] = e, used, stored
    avail = lim - used
  else
    local w = floor(now / a) * a
    local sw, sc = tonumber(h[fi]), tonumber(h[fi + 1]) or 0
    local cur, prev = 0, 0
    if sw == w then cur, prev = sc, tonumber(h[fi + 2]) or 0 elseif sw == w - a then prev = sc end
    fi = fi + 3
    S[s + 1], S[s + 2], S[s + 3] = w, cur, prev
    avail = floor(lim - (prev * (a - (now - w)) / a + cur) + 1e-9)
  end
  S[s + 4] = avail
  if failed == -1 and cost > avail then failed = i - 1 end
end

local ok = failed == -1
local write = ok and p[1] == 0
local out = { failed, now }
local on = 2
local W = {}
local wn = 0
local need = now
fi = 3
for i = 1, n do
  local o, s = o0 + (i - 1) * 5, (i - 1) * 4
  local k, lim, cost, a, b = p[o], p[o + 1], p[o + 2], p[o + 3], p[o + 4]
  local avail = S[s + 4]
  local after, reset, retry = avail, now, 0
  if k == 3 then
    local T = a / lim
    local tat = S[s + 1]
    if write then
      tat = tat + cost * T
      ${tatStringLua("tat", "ts")}
      W[wn + 1] = p[fi]; W[wn + 2] = ts; wn = wn + 2
      if tat > need then need = tat end
      after = avail - cost
    elseif not ok and cost > avail then
      retry = math.max(1, ceil(tat + cost * T - b * T - now))
    end
    fi = fi + 1
    reset = ceil(tat)
  elseif k == 2 then
    local e = S[s + 1]
    if write then
      if S[s + 3] ~= e then W[wn + 1] = p[fi]; W[wn + 2] = e; wn = wn + 2 end
      W[wn + 1] = p[fi + 1]; W[wn + 2] = S[s + 2] + cost; wn = wn + 2
      if e + 86400000 > need then need = e + 86400000 end
      after = avail - cost
    elseif not ok and cost > avail then
      retry = e - now
    end
    fi = fi + 2
    reset = e
  else
    local w, prev = S[s + 1], S[s + 3]
    if write then
      local cur = S[s + 2] + cost
      W[wn + 1] = p[fi]; W[wn + 2] = w; W[wn + 3] = p[fi + 1]; W[wn + 4] = cur; W[wn + 5] = p[fi + 2]; W[wn + 6] = prev
      wn = wn + 6
      if w + 2 * a > need then need = w + 2 * a end
      after = floor(lim - (prev * (a - (now - w)) / a + cur) + 1e-9)
    end
    fi = fi + 3
    reset = w + a
    if not ok and cost > avail then retry = math.max(1, reset - now) end
  end
  if after < 0 then after = 0 end
  out[on + 1] = after; out[on + 2] = reset; out[on + 3] = retry
  on = on + 3
end
if write then
  local x = h[nf]
${EXPIRY_LUA}
end
return out
`;

export const HOT_SCRIPT = defineScript("tenancykit.quota.hot", SOURCE);
