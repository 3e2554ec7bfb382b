import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { env: { ...process.env, NODE_NO_WARNINGS: "1" } });

describe("tenancykit CLI", () => {
  it("--help after a command with help of its own shows that command's help; alone, the command list", async () => {
    expect((await cli("check", "--help")).stdout).toMatch(/^usage: tenancykit check /);
    expect((await cli("usage", "-h")).stdout).toMatch(/^usage: tenancykit usage /);
    expect((await cli("--help")).stdout).toMatch(/^usage: tenancykit <command>/);
  }, 60_000);
});
