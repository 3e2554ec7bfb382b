import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("churn", () => {
  it("after 100,000 workspaces are created and cleared, then 100,000 more only read, the heap returns within 10% of its start", async () => {
    const script = fileURLToPath(new URL("./churn-child.ts", import.meta.url));
    const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", script], {
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
    });
    const { before, after, partitions, bytes, afterReads, partitionsAfterReads } = JSON.parse(stdout) as Record<string, number>;
    expect(partitions).toBe(0);
    expect(bytes).toBe(0);
    expect(after).toBeLessThanOrEqual((before as number) * 1.1);
    // Workspaces that never held anything keep no partition (about 2 KB each otherwise).
    expect(partitionsAfterReads).toBe(0);
    expect(afterReads).toBeLessThanOrEqual((before as number) * 1.1);
  }, 60_000);
});
