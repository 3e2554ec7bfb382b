import { defineScript } from "../../core/redis/script.js";
import { PERIOD_END_LUA } from "./redis-calendar.js";
import { expiryLua } from "./redis-expiry.js";
import { EXPIRY_FIELD, EXPIRY_SLACK_MS, slidingAvailableLua, slidingStateLua, tatStringLua } from "./redis-layout.js";

/**
 * The one script every Redis decision runs: all items of a request (several
 * limits, the child's and the parent's) decided and applied atomically, on
 * Redis `TIME` (never the app clock). Formulas mirror memory-algorithms.ts.
 *
 * KEYS: the family hash (rate, period and sliding state, see redis-layout.ts),
 *   then per count/concurrency item its key and the sorted set of its holds by
 *   expiry. All keys share the family hash tag.
 * ARGV: mode, reservationId, minimum, since, n, nf, then nf family hash fields
 *   (those of the rate/period/sliding items in item order, then "x"), then per
 *   item: kind, limit, cost, a, b.
 * Returns: allowed, failed (0-based, -1), granted, now, found, then per item
 *   remaining, resetAt, retryAfterMs.
 */
const SOURCE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mode, rid = ARGV[1], ARGV[2]
local minimum, since, n, nf = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local floor, max, min, ceil = math.floor, math.max, math.min, math.ceil

${PERIOD_END_LUA}

-- Rate, period and sliding state: fields of the family hash (KEYS[1]), read at once.
local h = {}
if nf > 1 then h = redis.call('HMGET', KEYS[1], unpack(ARGV, 7, 6 + nf)) end
local kind, lim, cost, pa, pb, fld, key, hkey = {}, {}, {}, {}, {}, {}, {}, {}
local v1, v2, v3, avail = {}, {}, {}, {}
local ki, fi = 2, 1
local consuming = mode == 'consume' or mode == 'reserve' or mode == 'check' or mode == 'lease'
local failed, want = -1, nil
for i = 1, n do
  local o = 6 + nf + (i - 1) * 5
  local k = tonumber(ARGV[o + 1])
  kind[i], lim[i], cost[i], pa[i], pb[i] = k, tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4]), tonumber(ARGV[o + 5])
  fld[i] = fi
  if k == 3 then
    local tat = tonumber(h[fi]) or 0
    fi = fi + 1
    v2[i] = tat
    if tat < now then tat = now end
    v1[i] = tat
    local T = pa[i] / lim[i]
    avail[i] = floor((now + pb[i] * T - tat) / T + 1e-9)
  elseif k == 2 then
    local stored = tonumber(h[fi])
    -- A stored period that has not ended is the current one: skip the calendar arithmetic.
    local e = stored
    if stored == nil or stored <= now then e = periodEnd(now, pa[i], pb[i]) end
    local used = 0
    if stored == e then used = tonumber(h[fi + 1]) or 0 end
    fi = fi + 2
    v1[i], v2[i], v3[i] = e, used, stored
    avail[i] = lim[i] - used
  elseif k == 4 then
    local W = pa[i]
    ${slidingStateLua("W")}
    fi = fi + 3
    v1[i], v2[i], v3[i] = w, cur, prev
    avail[i] = ${slidingAvailableLua("lim[i]", "W")}
  else
    key[i] = KEYS[ki]; hkey[i] = KEYS[ki + 1]; ki = ki + 2
    local expired = redis.call('ZRANGEBYSCORE', hkey[i], '-inf', now)
    for _, id in ipairs(expired) do
      local c = tonumber(redis.call('HGET', key[i], 'h:' .. id) or '0')
      redis.call('HDEL', key[i], 'h:' .. id)
      redis.call('HINCRBY', key[i], 'r', -c)
      redis.call('ZREM', hkey[i], id)
    end
    local hv = redis.call('HMGET', key[i], 'u', 'r')
    v1[i], v2[i] = tonumber(hv[1]) or 0, tonumber(hv[2]) or 0
    -- A concurrency limit counts only its holds (usage in the same key is a count limit's).
    if k == 5 then v1[i] = 0 end
    avail[i] = lim[i] - v1[i] - v2[i]
  end
  if consuming then
    if mode == 'lease' then
      local cand = min(cost[i], avail[i])
      if want == nil or cand < want then want = cand end
      if avail[i] < minimum and failed == -1 then failed = i - 1 end
    elseif cost[i] > avail[i] and failed == -1 then failed = i - 1 end
  end
end

local granted = 0
if failed == -1 then
  if mode == 'lease' then granted = want or 0 elseif n > 0 then granted = cost[1] end
end
local found = 1
local after = {}
for i = 1, n do after[i] = avail[i] end
-- Family hash writes, applied with one HSET at the end.
local W = {}
local need = now
local function put(f, v) W[#W + 1] = ARGV[6 + f]; W[#W + 1] = v end
if failed == -1 and mode ~= 'check' then
  for i = 1, n do
    local k = kind[i]
    local amt = cost[i]
    if mode == 'lease' then amt = granted end
    local take = mode == 'consume' or mode == 'reserve' or mode == 'lease'
    local f = fld[i]
    if k == 3 then
      local T = pa[i] / lim[i]
      if take then
        local nt = v1[i] + amt * T
        ${tatStringLua("nt", "nts")}
        put(f, nts)
        if nt > need then need = nt end
        v1[i] = nt
        after[i] = avail[i] - amt
      elseif mode == 'refund' then
        -- An arrival time at or before now reads as an absent field.
        local back = v2[i] - amt * T
        if back < now then back = now end
        if v2[i] > now then
          ${tatStringLua("back", "bs")}
          put(f, bs)
        end
        v1[i] = back
        after[i] = floor((now + pb[i] * T - v1[i]) / T + 1e-9)
      end
    elseif k == 2 then
      local e = v1[i]
      if take then
        if v3[i] ~= e then put(f, e) end
        put(f + 1, v2[i] + amt)
        if e + DAY > need then need = e + DAY end
        after[i] = avail[i] - amt
      elseif mode == 'reconcile' then
        put(f, e)
        put(f + 1, amt)
        if e + DAY > need then need = e + DAY end
        after[i] = lim[i] - amt
      elseif mode == 'refund' and periodEnd(since, pa[i], pb[i]) == e and v2[i] > 0 then
        local u = max(0, v2[i] - amt)
        put(f + 1, u)
        after[i] = lim[i] - u
      end
    elseif k == 4 then
      local Wn = pa[i]
      local cur = v2[i]
      if take then cur = cur + amt elseif mode == 'refund' and floor(since / Wn) * Wn == v1[i] then cur = max(0, cur - amt) end
      if take or mode == 'refund' then
        put(f, v1[i]); put(f + 1, cur); put(f + 2, v3[i])
        if v1[i] + 2 * Wn > need then need = v1[i] + 2 * Wn end
        after[i] = floor(lim[i] - (v3[i] * (Wn - (now - v1[i])) / Wn + cur) + 1e-9)
      end
    else
      local counted = k == 1
      if mode == 'reserve' then
        redis.call('ZADD', hkey[i], now + pa[i], rid)
        redis.call('HSET', key[i], 'h:' .. rid, amt)
        redis.call('HINCRBY', key[i], 'r', amt)
        after[i] = avail[i] - amt
      elseif mode == 'commit' or mode == 'release' then
        local c = tonumber(redis.call('HGET', key[i], 'h:' .. rid) or 'x')
        if c then
          redis.call('HDEL', key[i], 'h:' .. rid)
          redis.call('ZREM', hkey[i], rid)
          redis.call('HINCRBY', key[i], 'r', -c)
          if counted and mode == 'commit' then redis.call('HINCRBY', key[i], 'u', c) else after[i] = avail[i] + c end
        else
          found = 0
          if counted and mode == 'commit' then redis.call('HINCRBY', key[i], 'u', amt); after[i] = avail[i] - amt end
        end
      elseif counted and (mode == 'consume' or mode == 'lease') then
        redis.call('HINCRBY', key[i], 'u', amt)
        after[i] = avail[i] - amt
      elseif counted and mode == 'refund' then
        local u = max(0, v1[i] - amt)
        redis.call('HSET', key[i], 'u', u)
        after[i] = lim[i] - u - v2[i]
      elseif counted and mode == 'reconcile' then
        redis.call('HSET', key[i], 'u', amt)
        after[i] = lim[i] - amt - v2[i]
      end
    end
  end
  local x = h[nf]
${expiryLua("KEYS[1]", "#W")}
end

local out = { failed == -1 and 1 or 0, failed, failed == -1 and granted or 0, now, found }
for i = 1, n do
  local k = kind[i]
  local dc = cost[i]
  if mode == 'lease' then dc = minimum end
  local denied = failed ~= -1 and dc > avail[i]
  local reset, retry = now, 0
  if k == 3 then
    local T = pa[i] / lim[i]
    reset = ceil(v1[i])
    if denied then retry = max(1, ceil(v1[i] + dc * T - pb[i] * T - now)) end
  elseif k == 2 then
    reset = v1[i]
    if denied then retry = v1[i] - now end
  elseif k == 4 then
    reset = v1[i] + pa[i]
    if denied then retry = max(1, reset - now) end
  else
    local first = redis.call('ZRANGE', hkey[i], 0, 0, 'WITHSCORES')
    if first[2] then reset = tonumber(first[2]) end
    if denied then retry = reset - now end
  end
  out[#out + 1] = max(0, after[i])
  out[#out + 1] = reset
  out[#out + 1] = retry
end
return out
`;

export const QUOTA_SCRIPT = defineScript("tenancykit.quota.decide", SOURCE);

/**
 * The hottest case, one GCRA item consumed, as a script of its own: the same
 * formulas as the general script without its setup (argument tables, calendar
 * helpers) and with the shortest reply, so a plain rate-limit decision costs
 * Redis TIME, one HMGET and one HSET.
 * KEYS: the family hash. ARGV[1]: JSON `[field, limit, cost, periodMs, burst]`.
 * Returns one string (a Lua table reply costs Redis and ioredis more than a
 * short string): "now remaining resetAt" when allowed, "now remaining resetAt
 * retryAfterMs" when denied.
 */
export const GCRA_CONSUME_SCRIPT = defineScript(
  "tenancykit.quota.gcra",
  `
local p = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], p[1], '${EXPIRY_FIELD}')
local lim, cost, burst = p[2], p[3], p[5]
local T = p[4] / lim
local tat = tonumber(h[1]) or 0
if tat < now then tat = now end
local avail = math.floor((now + burst * T - tat) / T + 1e-9)
if cost > avail then
  local retry = math.ceil(tat + cost * T - burst * T - now)
  if retry < 1 then retry = 1 end
  if avail < 0 then avail = 0 end
  return string.format('%d %d %d %d', now, avail, math.ceil(tat), retry)
end
local nt = tat + cost * T
${tatStringLua("nt", "ns")}
local need = math.ceil(nt)
local x = tonumber(h[2])
if x == nil or need > x then
  local X = need + ${EXPIRY_SLACK_MS}
  redis.call('HSET', KEYS[1], p[1], ns, '${EXPIRY_FIELD}', X)
  redis.call('PEXPIREAT', KEYS[1], X)
else
  redis.call('HSET', KEYS[1], p[1], ns)
end
local rem = avail - cost
if rem < 0 then rem = 0 end
return string.format('%d %d %d', now, rem, need)
`,
);
