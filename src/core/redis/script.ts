import { createHash } from "node:crypto";

/**
 * A Lua script with its SHA-1 computed once, at definition. Scripts run with
 * EVALSHA and fall back to EVAL only when Redis answers NOSCRIPT (after a
 * restart or a SCRIPT FLUSH), so the hot path sends the 40-byte digest, not
 * the source.
 */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function defineScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}
