import { EXPIRY_FIELD, EXPIRY_SLACK_MS } from "./redis-layout.js";

/**
 * The family hash's writes, as one Lua fragment the quota scripts share;
 * `key` is the Lua expression naming the hash. Expects `W` (field, value,
 * field, value… to HSET), `need` (the instant after which every field written
 * reads as absent) and `x` (the stored expiry, from the HMGET). One HSET; the key's expiry only grows, and only when a field
 * needs it (then `EXPIRY_SLACK_MS` beyond, so an active family pays the extra
 * PEXPIREAT about once per slack period, not on every decision).
 */
export function expiryLua(key: string): string {
  return `
  if #W > 0 then
    need = math.ceil(need)
    local xv = tonumber(x)
    if xv == nil or need > xv then
      local X = need + ${EXPIRY_SLACK_MS}
      W[#W + 1] = '${EXPIRY_FIELD}'; W[#W + 1] = X
      redis.call('HSET', ${key}, unpack(W))
      redis.call('PEXPIREAT', ${key}, X)
    else
      redis.call('HSET', ${key}, unpack(W))
    end
  end
`;
}
