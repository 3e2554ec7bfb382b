import { familyRoot, type WorkspaceFamily } from "../family.js";
import type { WorkspaceId } from "../workspace-id.js";

/**
 * Redis keys are `tk:{<root>}:<module>:<parts…>`. The braces are a Redis
 * Cluster hash tag: only the root workspace id is hashed, so every key of a
 * workspace family lands in one slot and a multi-key Lua script over a parent
 * and its child never fails with CROSSSLOT.
 */
export function redisKeyPrefix(root: WorkspaceId, module: string): string {
  return `tk:{${root}}:${module}:`;
}

export function redisKey(root: WorkspaceId, module: string, ...parts: readonly string[]): string {
  return redisKeyPrefix(root, module) + parts.join(":");
}

/** The key prefix for a workspace's family; pre-compute it once per workspace handle. */
export function familyKeyPrefix(family: WorkspaceFamily, module: string): string {
  return redisKeyPrefix(familyRoot(family), module);
}

/** The hash tag Redis Cluster hashes for a key, or the whole key when it has none. */
export function hashTagOf(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}
