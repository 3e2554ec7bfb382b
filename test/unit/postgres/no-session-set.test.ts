import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SOURCE = join(import.meta.dirname, "../../../src/postgres");

/**
 * Lint: the module never sets anything at session level. A session `SET` or a
 * `set_config(..., false)` outlives its transaction and leaks through poolers.
 */
describe("no session-level SET in src/postgres", () => {
  const files = readdirSync(SOURCE).filter((f) => f.endsWith(".ts"));
  it.each(files)("%s", (file) => {
    const text = readFileSync(join(SOURCE, file), "utf8");
    expect(text).not.toMatch(/\bSET\s+(SESSION\s+)?(ROLE|[a-z_]+\.[a-z_]+)\b/i);
    expect(text).not.toMatch(/set_config\([^)]*,\s*false\s*\)/i);
    for (const call of text.match(/set_config\([^)]*\)/gi) ?? []) expect(call).toMatch(/,\s*true\s*\)$/);
  });
  it("found the module's files", () => expect(files.length).toBeGreaterThan(10));
});
