import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

/**
 * One build entry per `exports` subpath, derived from package.json so adding a
 * subpath there is the only step. `./quota/redis` maps to `src/quota/redis.ts`,
 * `./quota` to `src/quota/index.ts`.
 */
function entriesFromExports(): Record<string, string> {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
    exports: Record<string, unknown>;
  };
  const entries: Record<string, string> = { "cli/main": "src/cli/main.ts" };
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target !== "object" || target === null) continue;
    const importTarget = (target as { import: { default: string } }).import.default;
    const out = importTarget.replace(/^\.\/dist\//, "").replace(/\.js$/, "");
    const src = subpath === "." ? "src/index.ts" : `src/${out}.ts`;
    entries[out] = src;
  }
  return entries;
}

export default defineConfig({
  entry: entriesFromExports(),
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  splitting: true,
  treeshake: true,
  shims: true,
});
