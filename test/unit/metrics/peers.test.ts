import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const OPTIONAL_PEERS = ["@opentelemetry/api", "drizzle-orm", "pg", "ioredis", "pino", "@electric-sql/pglite"];
const dir = join(import.meta.dirname, "../../../src/metrics");

describe("optional peers stay optional", () => {
  it("no file of tenancykit/metrics imports an optional peer at runtime, except the postgres entry (drizzle) and the CLI command (dynamic)", () => {
    const offenders: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const source = readFileSync(join(dir, file), "utf8");
      for (const match of source.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gms)) {
        const spec = match[1] ?? "";
        const peer = OPTIONAL_PEERS.find((p) => spec === p || spec.startsWith(`${p}/`));
        if (peer && !(file === "postgres.ts" && peer === "drizzle-orm")) offenders.push(`${file}: ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
