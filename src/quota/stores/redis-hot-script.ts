import { defineScript } from "../../core/redis/script.js";
import { PERIOD_END_LUA } from "./redis-calendar.js";
import { expiryLua } from "./redis-expiry.js";
import { slidingAvailableLua, slidingStateLua, tatStringLua } from "./redis-layout.js";

/**
 * `consume`/`check` over rate (GCRA), period and sliding-window items only:
 * the shape almost every decision has. Same formulas as the general script
 * (redis-script.ts) for these modes, in three Redis commands whatever the
 * number of items: TIME, one HMGET of the family hash, one HSET (plus a
 * PEXPIREAT when the hash's expiry must grow, about once an hour per family).
 * An allowed request is decided, queued for writing and answered in one pass
 * (per-item Lua work is most of the script's cost); a denial re-reads the
 * items in a second, read-only pass. Lua re-creates a script's local
 * functions on every run, so the calendar arithmetic lives inside the branch
 * that needs it (a period that is new or has ended: once per key per period).
 */

/**
 * One decision, in Lua that expects `now`, the decoded shape `p`, the
 * owner `c` (redis-layout.ts `hotArgs`) and two scratch tables `F0`, `W0`
 * (fields to read, and field/value pairs to write), which a batch reuses for
 * all its decisions: their entries are counted (`nf`, `wn`), never
 * `#`-measured, because entries of an earlier decision remain past them.
 * `p` is `[check, nf, suffix…, owned…, then per item kind, limit, cost, a,
 * b]`; fields per item: GCRA 1 (TAT),
 * period 2 (end, used), sliding 3 (window, current, previous), then "x".
 * Returns: failed (0-based, -1 when allowed), now, then per item remaining, resetAt, retryAfterMs.
 */
function decisionLua(key: string): string {
  return `
local nf = p[2]
local F = F0
for i = 1, nf do
  if p[2 + nf + i] == 1 then F[i] = c .. p[2 + i] else F[i] = p[2 + i] end
end
local h = redis.call('HMGET', ${key}, unpack(F, 1, nf))
local floor, ceil = math.floor, math.ceil
local write = p[1] == 0
local o0 = 3 + 2 * nf
local n = (#p - o0 + 1) / 5

-- The usual case in one pass: every item passes, its new state is queued for the
-- one HSET and its answer appended. The first item that cannot pass ends the pass.
local out = { -1, now }
local on = 2
local W = W0
local wn = 0
local need = now
local fi = 1
local o = o0
local failed = -1
for i = 1, n do
  local k, lim, cost, a, b = p[o], p[o + 1], p[o + 2], p[o + 3], p[o + 4]
  o = o + 5
  local after, reset
  if k == 3 then
    local tat = tonumber(h[fi]) or 0
    if tat < now then tat = now end
    local T = a / lim
    local avail = floor((now + b * T - tat) / T + 1e-9)
    if cost > avail then failed = i - 1 break end
    after = avail
    if write then
      tat = tat + cost * T
      ${tatStringLua("tat", "ts")}
      W[wn + 1] = F[fi]; W[wn + 2] = ts; wn = wn + 2
      if tat > need then need = tat end
      after = avail - cost
    end
    reset = ceil(tat)
    fi = fi + 1
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
    local avail = lim - used
    if cost > avail then failed = i - 1 break end
    after = avail
    if write then
      if stored ~= e then W[wn + 1] = F[fi]; W[wn + 2] = e; wn = wn + 2 end
      W[wn + 1] = F[fi + 1]; W[wn + 2] = used + cost; wn = wn + 2
      if e + 86400000 > need then need = e + 86400000 end
      after = avail - cost
    end
    reset = e
    fi = fi + 2
  else
    ${slidingStateLua("a")}
    local avail = ${slidingAvailableLua("lim", "a")}
    if cost > avail then failed = i - 1 break end
    after = avail
    if write then
      cur = cur + cost
      W[wn + 1] = F[fi]; W[wn + 2] = w; W[wn + 3] = F[fi + 1]; W[wn + 4] = cur; W[wn + 5] = F[fi + 2]; W[wn + 6] = prev
      wn = wn + 6
      if w + 2 * a > need then need = w + 2 * a end
      after = ${slidingAvailableLua("lim", "a")}
    end
    reset = w + a
    fi = fi + 3
  end
  if after < 0 then after = 0 end
  out[on + 1] = after; out[on + 2] = reset; out[on + 3] = 0
  on = on + 3
end

if failed == -1 then
  if write then
    local x = h[nf]
${expiryLua(key, "wn")}
  end
  return out
end

-- Denied: nothing is written. Every item's state as it stands, and the wait
-- for each item that could not pass on its own.
out = { failed, now }
on = 2
fi = 1
o = o0
for i = 1, n do
  local k, lim, cost, a, b = p[o], p[o + 1], p[o + 2], p[o + 3], p[o + 4]
  o = o + 5
  local avail, reset, retry
  retry = 0
  if k == 3 then
    local tat = tonumber(h[fi]) or 0
    if tat < now then tat = now end
    local T = a / lim
    avail = floor((now + b * T - tat) / T + 1e-9)
    reset = ceil(tat)
    if cost > avail then retry = math.max(1, ceil(tat + cost * T - b * T - now)) end
    fi = fi + 1
  elseif k == 2 then
    local stored = tonumber(h[fi])
    local e = stored
    if stored == nil or stored <= now then
${PERIOD_END_LUA}
      e = periodEnd(now, a, b)
    end
    local used = 0
    if stored == e then used = tonumber(h[fi + 1]) or 0 end
    avail = lim - used
    reset = e
    if cost > avail then retry = e - now end
    fi = fi + 2
  else
    ${slidingStateLua("a")}
    avail = ${slidingAvailableLua("lim", "a")}
    reset = w + a
    if cost > avail then retry = math.max(1, reset - now) end
    fi = fi + 3
  end
  if avail < 0 then avail = 0 end
  out[on + 1] = avail; out[on + 2] = reset; out[on + 3] = retry
  on = on + 3
end
return out
`;
}

/** Redis TIME as epoch milliseconds, in local `now`. */
const NOW_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** One decision: KEYS[1] the family hash (redis-layout.ts), ARGV[1] its shape, ARGV[2] its owner. */
export const HOT_SCRIPT = defineScript(
  "tenancykit.quota.hot",
  `
local p = cjson.decode(ARGV[1])
local c = ARGV[2]
local F0, W0 = {}, {}
${NOW_LUA}
${decisionLua("KEYS[1]")}`,
);

/**
 * Several independent decisions in one EVALSHA (redis-batch.ts coalesces the
 * ones that arrive while others are in flight): ARGV[1] is a JSON array of the
 * batch's distinct shapes, and decision k is HOT_SCRIPT's on KEYS[k] with
 * shape number ARGV[2k] and owner ARGV[2k+1], decided in order at one Redis TIME, so the batch
 * decides exactly what the same decisions sent one by one would. One decision
 * failing (a key of the wrong type) fails only itself: its entry is the error
 * message instead of a reply, and it wrote nothing (it fails on its read).
 *
 * Returns: per decision, HOT_SCRIPT's reply or an error string.
 */
export const HOT_BATCH_SCRIPT = defineScript(
  "tenancykit.quota.hot-batch",
  `
${NOW_LUA}
local shapes = cjson.decode(ARGV[1])
-- Scratch tables shared by the batch's decisions (see decisionLua): two tables fewer to build per decision.
local F0, W0 = {}, {}
local function decide(key, p, c)
${decisionLua("key")}
end
local replies = {}
for k = 1, #KEYS do
  local fine, reply = pcall(decide, KEYS[k], shapes[tonumber(ARGV[2 * k])], ARGV[2 * k + 1])
  if fine then
    replies[k] = reply
  elseif type(reply) == 'table' and reply.err ~= nil then
    replies[k] = tostring(reply.err)
  else
    replies[k] = tostring(reply)
  end
end
return replies
`,
);
