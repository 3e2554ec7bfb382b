import { EXPIRY_FIELD, EXPIRY_SLACK_MS } from "./redis-layout.js";

/**
 * The family hash's writes, as one Lua fragment the quota scripts share;
 * `key` is the Lua expression naming the hash and `count` the one for how
 * many entries of `W` to write (a table reused across a batch's decisions
 * holds older entries past them). Expects `W` (field, value, field, value… to
 * HSET), `need` (the instant after which every field written reads as
 * absent) and `x` (the stored expiry, from the HMGET). One HSET; the key's
 * expiry only grows, and only when a field needs it (then `EXPIRY_SLACK_MS`
 * beyond, so an active family pays the extra PEXPIREAT about once per slack
 * period, not on every decision).
 */
export function expiryLua(key: string, count: string): string {
  return `
  local wlen = ${count}
  if wlen > 0 then
    need = math.ceil(need)
    local xv = tonumber(x)
    if xv == nil or need > xv then
      local X = need + ${EXPIRY_SLACK_MS}
      W[wlen + 1] = '${EXPIRY_FIELD}'; W[wlen + 2] = X
      redis.call('HSET', ${key}, unpack(W, 1, wlen + 2))
      redis.call('PEXPIREAT', ${key}, X)
    else
      redis.call('HSET', ${key}, unpack(W, 1, wlen))
    end
  end
`;
}
