/**
 * Redis plumbing shared by the quota and cache modules. A separate subpath
 * (`tenancykit/core/redis`) so that importing `tenancykit/core` never loads
 * ioredis types or code.
 */
export { familyKeyPrefix, hashTagOf, redisKey, redisKeyPrefix } from "./keys.js";
export { defineScript, type LuaScript } from "./script.js";
export {
  RedisRunner,
  type RedisCallError,
  type RedisClient,
  type RedisRunnerOptions,
  type RunOptions,
} from "./runner.js";
