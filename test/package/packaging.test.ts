import { execFile } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Checks the package as users receive it: the packed tarball, not the source.
 * Requires `npm run build` first (npm test does it).
 */
const exec = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, unknown>;
  devDependencies: Record<string, string>;
};
const subpaths = Object.keys(pkg.exports).filter((s) => s !== "./package.json");

let work: string;
let tarball: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "tk-pack-"));
  const { stdout } = await exec("npm", ["pack", "--json", "--pack-destination", work], { cwd: root });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  if (!packed) throw new Error("npm pack produced nothing");
  tarball = join(work, packed.filename);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the packed package", () => {
  it("passes publint with no problems", async () => {
    const { stdout, stderr } = await exec("npx", ["publint", "--strict", "--pack", "npm"], { cwd: root });
    const output = `${stdout}${stderr}`;
    expect(output).toMatch(/All good!/);
  }, 120_000);

  it("passes arethetypeswrong with no problems on every entry point", async () => {
    const result = await exec("npx", ["attw", tarball, "--format", "json"], { cwd: root }).catch(
      (e: { stdout: string }) => ({ stdout: e.stdout }),
    );
    const report = JSON.parse(result.stdout) as { analysis: { problems: unknown[]; entrypoints: Record<string, unknown> } };
    expect(report.analysis.problems).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints).filter((e) => e !== "./package.json").sort()).toEqual(subpaths.sort());
  }, 120_000);

  it("installs into a CommonJS TypeScript 5.6 consumer with neverthrow 6.2.1, requires every subpath, and type-checks", async () => {
    const consumer = join(work, "consumer");
    cpSync(join(root, "test/fixtures/cjs-consumer"), consumer, { recursive: true });
    // Every subpath's declarations, checked under TS 5.6 with skipLibCheck off: a type only newer
    // TypeScript emits (e.g. `Float64Array<ArrayBuffer>`) must not break an older consumer. Entries
    // whose declarations reference drizzle-orm are left out: drizzle's own declarations need skipLibCheck.
    const typeImports = subpaths
      .filter((s) => !readFileSync(join(root, declarationsOf(s)), "utf8").includes("drizzle-orm"))
      .map((s, i) => `import type * as Subpath${i} from ${JSON.stringify(s === "." ? "tenancykit" : `tenancykit/${s.slice(2)}`)};\nexport type Uses${i} = typeof Subpath${i};`);
    expect(typeImports.length).toBeGreaterThanOrEqual(10);
    appendFileSync(join(consumer, "consumer.ts"), `\n${typeImports.join("\n")}\n`);
    await exec(
      "npm",
      [
        "install", "--prefer-offline", "--no-audit", "--no-fund", "--no-save",
        tarball, "neverthrow@6.2.1", "typescript@5.6.3", "@types/node@20",
        `ioredis@${pkg.devDependencies.ioredis}`, `pg@${pkg.devDependencies.pg}`,
        "drizzle-orm@0.38.3", `pino@${pkg.devDependencies.pino}`, "@opentelemetry/api@1.9.0",
      ],
      { cwd: consumer },
    );
    const requireAll = subpaths
      .map((s) => `require(${JSON.stringify(s === "." ? "tenancykit" : `tenancykit/${s.slice(2)}`)});`)
      .join("\n");
    const { stdout } = await exec(
      "node",
      ["-e", `${requireAll}\nconst { parseWorkspaceId } = require("tenancykit");\nconsole.log(parseWorkspaceId("8F14E45F-CEEA-4E7A-9D1B-1A2B3C4D5E01")._unsafeUnwrap());`],
      { cwd: consumer },
    );
    expect(stdout.trim()).toBe("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01");
    const version = await exec("node", ["-p", 'require("neverthrow/package.json").version'], { cwd: consumer });
    expect(version.stdout.trim()).toBe("6.2.1");
    const compilerErrors = await exec("npx", ["tsc", "-p", "tsconfig.json"], { cwd: consumer }).then(
      () => "",
      (e: { stdout: string; stderr: string }) => `${e.stdout}${e.stderr}`,
    );
    expect(compilerErrors).toBe("");
    const tscVersion = await exec("npx", ["tsc", "--version"], { cwd: consumer });
    expect(tscVersion.stdout).toMatch(/Version 5\.6\./);
    // The CLI's commands other than demo need no optional peer beyond pg (this consumer has no PGlite).
    const cli = (...args: string[]) =>
      exec("npx", ["--no-install", "tenancykit", ...args], { cwd: consumer, env: { ...process.env, TENANCY_DATABASE_URL: "" } }).then(
        ({ stdout }) => ({ code: 0, out: stdout }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
      );
    expect(await cli("root-key", "k1")).toMatchObject({ code: 0, out: expect.stringMatching(/^k1:[A-Za-z0-9+/]{43}=\n$/) });
    expect(await cli("check")).toMatchObject({ code: 1, out: expect.stringMatching(/^no database: pass --url or set TENANCY_DATABASE_URL/) });
    expect(await cli("usage")).toMatchObject({ code: 1, out: expect.not.stringMatching(/Cannot find (module|package)/) });
    // createTenancy from CommonJS: the embedded defaults, then a URL whose optional peer is missing.
    const plans = JSON.stringify({ plans: { p: { m: { kind: "rate", limit: 1, periodMs: 60_000 } } }, defaultPlan: "p" });
    const tenancyScript = `const { loadConfig } = require("tenancykit");
      const { createTenancy } = require("tenancykit/tenancy");
      (async () => {
        const config = loadConfig(process.env)._unsafeUnwrap();
        const tenancy = await createTenancy(config);
        if (tenancy.isErr()) { console.log(JSON.stringify(tenancy.error.problems)); return; }
        const d = await tenancy.value.quota.consume({ workspaceId: "8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01", limit: "m" });
        await tenancy.value.close();
        console.log(d._unsafeUnwrap().allowed);
      })();`;
    const runTenancy = (extra: Record<string, string>) =>
      exec("node", ["-e", tenancyScript], { cwd: consumer, env: { ...process.env, TENANCY_DATABASE_URL: "", TENANCY_QUOTA_PLANS: plans, ...extra } });
    expect((await runTenancy({})).stdout.trim()).toBe("true");
    renameSync(join(consumer, "node_modules/ioredis"), join(consumer, "node_modules/ioredis-hidden"));
    try {
      const missing = await runTenancy({ TENANCY_REDIS_URL: "redis://127.0.0.1:1" });
      expect(JSON.parse(missing.stdout)).toEqual([{ variable: "TENANCY_REDIS_URL", reason: expect.stringMatching(/ioredis is not installed/) }]);
    } finally {
      renameSync(join(consumer, "node_modules/ioredis-hidden"), join(consumer, "node_modules/ioredis"));
    }
  }, 300_000);

  it("loads no optional peer from the primitives' main entries (adapters are separate subpaths)", async () => {
    const lean = [".", "./core", "./quota", "./cache", "./crypto", "./audit", "./tenancy", "./testing"];
    const peers = ["ioredis", "pg", "drizzle-orm", "pino", "@opentelemetry/api", "@electric-sql/pglite"];
    for (const subpath of lean) {
      const specifier = subpath === "." ? "tenancykit" : `tenancykit/${subpath.slice(2)}`;
      const script = `require(${JSON.stringify(specifier)});
        const loaded = Object.keys(require.cache).filter((f) => f.includes("/node_modules/"));
        const peers = ${JSON.stringify(peers)}.filter((p) => loaded.some((f) => f.includes("/node_modules/" + p + "/")));
        console.log(JSON.stringify(peers));`;
      const { stdout } = await exec("node", ["-e", script], { cwd: root });
      expect({ subpath, peers: JSON.parse(stdout) as string[] }).toEqual({ subpath, peers: [] });
    }
  });

  it("imports every subpath as ESM", async () => {
    const imports = subpaths.map((s) => `await import(${JSON.stringify(s === "." ? "tenancykit" : `tenancykit/${s.slice(2)}`)});`).join("\n");
    const { stdout } = await exec("node", ["--input-type=module", "-e", `${imports}\nconsole.log("ok");`], { cwd: root });
    expect(stdout.trim()).toBe("ok");
  });
});

/** The CommonJS declarations file of an exports subpath, relative to the package root. */
function declarationsOf(subpath: string): string {
  const entry = pkg.exports[subpath] as { require: { types: string } };
  return entry.require.types;
}
