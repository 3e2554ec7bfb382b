import { defineScript } from "../../core/redis/script.js";
import { PERIOD_END_LUA } from "./redis-calendar.js";

/**
 * `consume`/`check` over rate (GCRA), period and sliding-window items only:
 * the shape almost every decision has. Same formulas and reply as the general
 * script (redis-script.ts) for these modes, without the setup the general
 * script pays on every call (mode dispatch, hold bookkeeping, eight calendar
 * closures): Lua re-creates a script's local functions on every run, so the
 * calendar arithmetic lives inside the branch that needs it (a period key
 * that is new or past its end: once per key per period).
 *
 * KEYS: one per item (same family hash tag).
 * ARGV: check (1 = decide only), then per item: kind, limit, cost, a, b.
 * Returns: allowed, failed (0-based, -1), granted, now, 1, then per item
 *   remaining, resetAt, retryAfterMs.
 */
const SOURCE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local n = #KEYS
local floor, ceil = math.floor, math.ceil
-- One flat table of per-item state (4 slots each); item arguments are re-read
-- from ARGV in the second pass (each table a script creates costs Redis time).
local S = {}
local failed = -1
for i = 1, n do
  local o = (i - 1) * 5
  local k, lim, cost, a, b = tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6])
  local s = (i - 1) * 4
  local avail
  if k == 3 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    S[s + 1] = tat
    local T = a / lim
    avail = floor((now + b * T - tat) / T + 1e-9)
  elseif k == 2 then
    local h = redis.call('HMGET', KEYS[i], 'e', 'u')
    local stored = tonumber(h[1])
    local e = stored
    if stored == nil or stored <= now then
      -- New key or a finished period: the calendar, defined only in this branch (once per key per period).
${PERIOD_END_LUA}
      e = periodEnd(now, a, b)
    end
    local used = 0
    if stored == e then used = tonumber(h[2]) or 0 end
    S[s + 1], S[s + 2], S[s + 3] = e, used, stored
    avail = lim - used
  else
    local w = floor(now / a) * a
    local h = redis.call('HMGET', KEYS[i], 'w', 'c', 'p')
    local sw, sc = tonumber(h[1]), tonumber(h[2]) or 0
    local cur, prev = 0, 0
    if sw == w then cur, prev = sc, tonumber(h[3]) or 0 elseif sw == w - a then prev = sc end
    S[s + 1], S[s + 2], S[s + 3] = w, cur, prev
    avail = floor(lim - (prev * (a - (now - w)) / a + cur) + 1e-9)
  end
  S[s + 4] = avail
  if failed == -1 and cost > avail then failed = i - 1 end
end

local ok = failed == -1
local out = { ok and 1 or 0, failed, ok and tonumber(ARGV[4]) or 0, now, 1 }
for i = 1, n do
  local o, s = (i - 1) * 5, (i - 1) * 4
  local k, lim, cost, a, b = tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6])
  local avail = S[s + 4]
  local after, reset, retry = avail, now, 0
  if k == 3 then
    local T = a / lim
    local tat = S[s + 1]
    if ok then
      if ARGV[1] == '0' then
        tat = tat + cost * T
        redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.max(1, ceil(tat - now)))
        after = avail - cost
      end
    elseif cost > avail then
      retry = math.max(1, ceil(tat + cost * T - b * T - now))
    end
    reset = ceil(tat)
  elseif k == 2 then
    local e = S[s + 1]
    if ok then
      if ARGV[1] == '0' then
        if S[s + 3] == e then
          redis.call('HINCRBY', KEYS[i], 'u', cost)
        else
          redis.call('HSET', KEYS[i], 'e', e, 'u', cost)
          redis.call('PEXPIREAT', KEYS[i], e + 86400000)
        end
        after = avail - cost
      end
    elseif cost > avail then
      retry = e - now
    end
    reset = e
  else
    local w, prev = S[s + 1], S[s + 3]
    if ok then
      if ARGV[1] == '0' then
        local cur = S[s + 2] + cost
        redis.call('HSET', KEYS[i], 'w', w, 'c', cur, 'p', prev)
        redis.call('PEXPIRE', KEYS[i], 2 * a)
        after = floor(lim - (prev * (a - (now - w)) / a + cur) + 1e-9)
      end
    end
    reset = w + a
    if not ok and cost > avail then retry = math.max(1, reset - now) end
  end
  if after < 0 then after = 0 end
  out[#out + 1] = after
  out[#out + 1] = reset
  out[#out + 1] = retry
end
return out
`;

export const HOT_SCRIPT = defineScript("tenancykit.quota.hot", SOURCE);
