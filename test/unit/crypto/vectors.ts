import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Finds `shared/vectors` beside the repository (CI checks out the repo next
 * to `shared/`; a worktree may sit one level deeper) by walking up from the
 * repository root. Throws (failing the test loudly) when it is not found:
 * these tests must never be silently skipped.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export function vectorsDirectory(): string {
  const tried: string[] = [];
  let dir = repoRoot;
  for (let depth = 0; depth < 4; depth++) {
    const parent = dirname(dir);
    const candidate = join(parent, "shared", "vectors");
    tried.push(candidate);
    if (existsSync(candidate)) return candidate;
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`test vectors not found; looked for shared/vectors at: ${tried.join(", ")}`);
}

export function readVectors<T>(relative: string): T {
  return JSON.parse(readFileSync(join(vectorsDirectory(), relative), "utf8")) as T;
}

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export interface WycheproofAeadTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: "valid" | "invalid" | "acceptable";
}
export interface WycheproofFile<G> {
  algorithm: string;
  numberOfTests: number;
  testGroups: G[];
}
export interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: WycheproofAeadTest[];
}
