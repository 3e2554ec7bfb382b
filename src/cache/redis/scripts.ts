import { defineScript } from "../../core/redis/script.js";

/*
 * Key layout for one workspace (braces: one Redis Cluster slot per workspace):
 *   tk:{<ws>}:cache:gen             the workspace generation (INCR = O(1) clear)
 *   tk:{<ws>}:cache:v:<len>:<key>   the key's version (INCR = the key's invalidation; fences fills)
 *   tk:{<ws>}:cache:e:<gen>:<ver>:<len>:<key>  the entry of the current generation and version
 * Keys are length-prefixed so no key string can collide with another's.
 * The entry key is built inside the scripts from the generation and version
 * just read, which is how all three are read in one round trip; it shares the
 * workspace hash tag, so it lives in the same slot on a Cluster. Bumping the
 * generation or the key's version orphans the old entry (it expires by its
 * TTL), so neither a clear nor a delete needs to know the other counter: a
 * delete is an INCR of the version and the PUBLISH (deleteScript).
 *
 * A version number must never be used twice while an entry filed under its
 * first use may still exist: if the version key expired first, the next INCR
 * would restart at 1 and make that old entry current again (a delete bringing
 * back an older value). So the version key always outlives every entry of
 * its key: a fill or write extends its TTL to at least the entry's (a fill
 * under version 0 creates it, holding 0), and no script ever shortens it (a
 * version key without a TTL, which these scripts never create, is left
 * without one).
 *
 * That holds only while Redis never evicts a key before its TTL: with a
 * maxmemory-policy other than `noeviction`, Redis may evict a version key
 * (or the generation key) under memory pressure while entries filed under
 * it remain; the next INCR restarts at 1 (a read meanwhile sees version 0)
 * and an old entry can be current again. The Redis tier therefore requires
 * `maxmemory-policy noeviction` (or a maxmemory Redis never reaches) on the
 * Redis it writes to; see docs/cache.md.
 *
 * KEYS[1] gen key, KEYS[2] version key; ARGV[1] entry prefix (…:e:), ARGV[2] ":<len>:<key>".
 */

/** Returns {generation, version, value|false, pttl}. */
export const readScript = defineScript(
  "tk_cache_read",
  `local g = redis.call('GET', KEYS[1]) or '0'
   local v = redis.call('GET', KEYS[2]) or '0'
   local k = ARGV[1] .. g .. ':' .. v .. ARGV[2]
   local e = redis.call('GET', k)
   local ttl = -1
   if e then ttl = redis.call('PTTL', k) end
   return {g, v, e or false, ttl}`,
);

/**
 * A fenced fill: ARGV[3], ARGV[4] are the generation and version the fill
 * read before loading; if either moved (a clear, a delete, a set), the stale
 * value is not written (returns 0). ARGV[5] value, ARGV[6] ttl ms. The
 * version key is made to outlive the entry (see the key layout above).
 */
export const fillScript = defineScript(
  "tk_cache_fill",
  `local g = redis.call('GET', KEYS[1]) or '0'
   local v = redis.call('GET', KEYS[2]) or '0'
   if g ~= ARGV[3] or v ~= ARGV[4] then return 0 end
   local ttl = tonumber(ARGV[6])
   redis.call('SET', ARGV[1] .. g .. ':' .. v .. ARGV[2], ARGV[5], 'PX', ttl)
   local left = redis.call('PTTL', KEYS[2])
   if left == -2 then redis.call('SET', KEYS[2], v, 'PX', ttl)
   elseif left >= 0 and left < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
   return 1`,
);

/**
 * A write (set): bumps the key's version (fencing fills in every process),
 * drops the previous version's entry, writes the new one and publishes the
 * invalidation, all in one round trip. ARGV[3] value, ARGV[4] ttl ms,
 * ARGV[5] version-key ttl ms (a floor: an existing longer TTL is kept; the
 * TTL is read before the INCR, so a key the INCR creates (PTTL -2 before)
 * gets one, and a key that exists without a TTL (-1) keeps having none),
 * ARGV[6] channel, ARGV[7] message.
 */
export const writeScript = defineScript(
  "tk_cache_write",
  `local g = redis.call('GET', KEYS[1]) or '0'
   local old = redis.call('GET', KEYS[2]) or '0'
   local left = redis.call('PTTL', KEYS[2])
   local v = redis.call('INCR', KEYS[2])
   local keep = math.max(tonumber(ARGV[4]), tonumber(ARGV[5]))
   if left == -2 or (left >= 0 and left < keep) then redis.call('PEXPIRE', KEYS[2], keep) end
   redis.call('DEL', ARGV[1] .. g .. ':' .. old .. ARGV[2])
   redis.call('SET', ARGV[1] .. g .. ':' .. v .. ARGV[2], ARGV[3], 'PX', ARGV[4])
   redis.call('PUBLISH', ARGV[6], ARGV[7])
   return 1`,
);

/**
 * A delete: bumps the key's version (orphaning its entry and fencing fills in
 * every process) and publishes the invalidation: at most four small commands, no key
 * building, in one round trip (the cross-process invalidation's critical
 * path). A script rather than MULTI/EXEC: ioredis builds a pipeline object
 * per MULTI, which costs the sender more than Redis saves. KEYS[1] version
 * key; ARGV[1] version-key ttl ms (a floor: a longer TTL a fill gave the key
 * is kept, see the key layout; read before the INCR, so a key the INCR
 * creates gets one and a key without a TTL keeps having none), ARGV[2]
 * channel, ARGV[3] message.
 */
export const deleteScript = defineScript(
  "tk_cache_delete",
  `local left = redis.call('PTTL', KEYS[1])
   redis.call('INCR', KEYS[1])
   if left == -2 or (left >= 0 and left < tonumber(ARGV[1])) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
   redis.call('PUBLISH', ARGV[2], ARGV[3])
   return 1`,
);

/** O(1) clear: INCR the generation and publish. KEYS[1] gen key; ARGV[1] channel, ARGV[2] message. */
export const clearScript = defineScript(
  "tk_cache_clear",
  `local g = redis.call('INCR', KEYS[1])
   redis.call('PUBLISH', ARGV[1], ARGV[2])
   return g`,
);
