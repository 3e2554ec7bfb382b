import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/core/index.js";
import { runUsageCommand } from "../../../src/metrics/usage-command.js";
import { runCheckCommand } from "../../../src/postgres/cli-check.js";
import { createTenancy } from "../../../src/tenancy/index.js";
import { expectErrIff, noThrow, str, W } from "./hostile-values.js";

/**
 * createTenancy with hostile variable values and options, and the CLI commands
 * that take an injectable io (`check`, `usage`) with hostile argument lists.
 * No servers: database URLs point at a closed port, so a command that gets as
 * far as connecting fails there, typed, with exit code 1.
 */

const CLOSED = "postgres://tk:tk@127.0.0.1:1/none";
const SEED = Buffer.alloc(32, 7).toString("base64");
const PLANS = JSON.stringify({ plans: { free: { calls: { kind: "count", limit: 5 } } }, defaultPlan: "free" });

describe("createTenancy with hostile values", () => {
  it("InvalidConfig listing exactly the bad variables (plans, root keys, signing key) before anything opens; Ok on the embedded defaults otherwise, and close() settles", async () => {
    const variable = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<string>) =>
      fc.oneof(fc.constant({ v: undefined as string | undefined, bad: false }), good.map((v) => ({ v: String(v), bad: false })), bad.map((v) => ({ v, bad: true })));
    await fc.assert(
      fc.asyncProperty(
        variable(fc.constant(PLANS), fc.constantFrom("[]", '{"plans":{}}', '{"plans":{"free":{}},"defaultPlan":"pro"}', '{"plans":{"free":{"c":{"kind":"count","limit":NaN}}}}'.replace("NaN", "-1"), "null", "5", '"free"', '{"__proto__":{}}')),
        variable(fc.constantFrom(`k1:${SEED}`, `k1:${SEED},k2:${SEED}`), fc.constantFrom("k1", "k1:", "k1:AAAA", `:${SEED}`, `k1:${SEED}x`, `k1:${SEED},k1:${SEED}`, "\u0000", "名前:AAAA")),
        variable(fc.constant(SEED), fc.constantFrom("short", "AAAA", "\u0000", "名前")),
        fc.constantFrom(undefined, 0, 50, 5_000),
        async (plans, rootKeys, signing, closeTimeoutMs) => {
          const env = Object.fromEntries(
            [["TENANCY_QUOTA_PLANS", plans.v], ["TENANCY_ROOT_KEYS", rootKeys.v], ["TENANCY_AUDIT_SIGNING_KEY", signing.v]].filter(([, v]) => v !== undefined),
          ) as Record<string, string>;
          const config = loadConfig(env);
          // loadConfig only checks that they are strings; createTenancy parses them.
          expect(config.isOk(), `loadConfig(${str(env)})`).toBe(true);
          if (config.isErr()) return;
          const what = `createTenancy(${str(env)}, { closeTimeoutMs: ${closeTimeoutMs} })`;
          const result = await noThrow(what, () => createTenancy(config.value, closeTimeoutMs === undefined ? {} : { closeTimeoutMs }));
          const expectedBad = [plans.bad && "TENANCY_QUOTA_PLANS", rootKeys.bad && "TENANCY_ROOT_KEYS", signing.bad && "TENANCY_AUDIT_SIGNING_KEY"].filter((v): v is string => typeof v === "string");
          expectErrIff(result, expectedBad.length > 0, what);
          if (result.isErr()) {
            expect(result.error.type, what).toBe("InvalidConfig");
            expect(result.error.type === "InvalidConfig" && result.error.problems.map((p) => p.variable).sort(), `${what}: every bad variable, once`).toEqual(expectedBad.sort());
          }
          if (result.isOk()) {
            const t = result.value;
            expect(t.quota === undefined, what).toBe(plans.v === undefined);
            expect(t.cipher === undefined, what).toBe(rootKeys.v === undefined);
            (await t.audit.append({ workspaceId: W, actor: { type: "member", id: "m" }, action: "a.b" }))._unsafeUnwrap();
            await noThrow(`${what}: close()`, () => t.close());
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------- CLI

const token = fc.oneof(
  fc.constantFrom("--url", "--schema", "--column", "--json", "--migration", "--help", "-h", "--bogus", "-x", "--", "--url=", `--url=${CLOSED}`, "--json=yes", "--no-json"),
  fc.constantFrom(CLOSED, "public", "workspaceId", "", "\u0000", '"; drop table x; --', "名前", "-"),
  fc.string({ maxLength: 6 }),
);

function io() {
  const out: string[] = [];
  const errOut: string[] = [];
  return { out, errOut, write: (t: string) => out.push(t), writeErr: (t: string) => errOut.push(t) };
}

describe("CLI commands with hostile argument lists", () => {
  it("tenancykit check: never throws or rejects; exit 0 only for --help, else 1 with a message on stderr (nothing listens at the URL)", async () => {
    const saved = process.env.TENANCY_DATABASE_URL;
    process.env.TENANCY_DATABASE_URL = CLOSED;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(token, { maxLength: 5 }), async (argv) => {
          const what = `tenancykit check ${str(argv)}`;
          const o = io();
          const code = await noThrow(what, () => runCheckCommand(argv, o.write, o.writeErr));
          expect([0, 1], what).toContain(code);
          if (code === 0) {
            expect(o.out.join(""), `${what}: exit 0 is the help text`).toMatch(/^usage: tenancykit check/);
          } else {
            expect(o.errOut.join("").length, `${what}: exit 1 says why`).toBeGreaterThan(0);
            expect(o.out.join(""), `${what}: nothing on stdout on an error`).toBe("");
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      if (saved === undefined) delete process.env.TENANCY_DATABASE_URL;
      else process.env.TENANCY_DATABASE_URL = saved;
    }
  }, 30_000);

  it("tenancykit usage: never throws or rejects; exit 0 only for --help, else 1 with a message on stderr", async () => {
    const usageToken = fc.oneof(
      fc.constantFrom("--database-url", "--plans", "--since", "--until", "--json", "--help", "-h", "--bogus", "--pglite", "--since=yesterday", "--until=2020-13-40", `--database-url=${CLOSED}`, "--plans=/nonexistent/plans.json", "--"),
      fc.constantFrom(CLOSED, "2024-01-01", "not a date", "", "\u0000", "/dev/null"),
      fc.string({ maxLength: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(usageToken, { maxLength: 5 }).filter((a) => !a.includes("--pglite") && !a.some((t) => t.startsWith("--pglite"))), async (argv) => {
        const what = `tenancykit usage ${str(argv)}`;
        const o = io();
        const code = await noThrow(what, () => runUsageCommand(argv, { out: o.write, errOut: o.writeErr, env: { TENANCY_DATABASE_URL: CLOSED }, now: () => new Date(0) }));
        expect([0, 1], what).toContain(code);
        if (code === 0) expect(o.out.join(""), what).toMatch(/^usage: tenancykit usage/);
        else expect(o.errOut.join("").length, `${what}: exit 1 says why`).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  }, 30_000);
});

describe("regressions (counterexamples found by the properties)", () => {
  it("tenancykit check: an unknown option or a missing value is exit 1 with the usage, not a rejection", async () => {
    for (const argv of [["--bogus"], ["--url"], ["--json=yes"]]) {
      const o = io();
      expect(await runCheckCommand(argv, o.write, o.writeErr), str(argv)).toBe(1);
      expect(o.errOut.join(""), str(argv)).toMatch(/usage: tenancykit check/);
    }
  });
});
