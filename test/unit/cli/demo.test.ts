import { describe, expect, it } from "vitest";
import { runDemo } from "../../../src/cli/demo/run-demo.js";

describe("npm run demo", () => {
  it("runs the three-workspace scenario with no servers and no env vars, and prints a readable report", async () => {
    const saved = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("TENANCY_")));
    for (const k of Object.keys(saved)) delete process.env[k];
    let output = "";
    try {
      await runDemo((text) => (output += text));
    } finally {
      Object.assign(process.env, saved);
    }
    expect(output).toMatch(/^tenancykit demo/);
    expect(output).toMatch(/== core: configuration and workspace ids/);
    expect(output).toMatch(/Acme Agency/);
    expect(output).toMatch(/InvalidWorkspaceId/);
    expect(output).toMatch(/demo finished\n$/);
  });
});
