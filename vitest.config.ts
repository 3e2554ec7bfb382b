import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Files share 2 cores with the servers they start; more workers only add contention.
          maxWorkers: 2,
          // Unit tests first, then integration: a broken core fails fast, before servers start.
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // The packed tarball as users get it; needs `npm run build` first (npm test does it).
          name: "package",
          include: ["test/package/**/*.test.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
