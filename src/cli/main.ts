#!/usr/bin/env node
import { parseArgs } from "node:util";

// Each command's module is loaded only when that command runs: the demo needs PGlite and
// drizzle-orm, optional peers that `check`, `usage` and `root-key` must work without.

const USAGE = `usage: tenancykit <command>

commands:
  demo      run a multi-workspace scenario on the embedded defaults (no servers)
  usage     per-workspace usage (and usage against plan limits) from flushed metrics
  root-key  print a new TENANCY_ROOT_KEYS entry (id:base64 of 32 random bytes); optional id argument
  check     check a Postgres database for tenancy gaps (RLS, policies, indexes, keys)
`;

async function main(argv: readonly string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: { help: { type: "boolean", short: "h" } },
  });
  const [command] = positionals;
  // `usage` and `check` have help of their own: `tenancykit check --help` reaches it.
  const ownHelp = command === "usage" || command === "check";
  if ((values.help === true && !ownHelp) || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  switch (command) {
    case "demo":
      await (await import("./demo/run-demo.js")).runDemo();
      return 0;
    case "usage":
      return (await import("../metrics/usage-command.js")).runUsageCommand(argv.slice(1), { out: (t) => process.stdout.write(t), errOut: (t) => process.stderr.write(t), env: process.env, now: () => new Date() });
    case "root-key":
      process.stdout.write(`${(await import("../crypto/root-key-gen.js")).generateRootKeyEntry(positionals[1])}\n`);
      return 0;
    case "check":
      return (await import("../postgres/cli-check.js")).runCheckCommand(argv.slice(1), (t) => process.stdout.write(t), (t) => process.stderr.write(t));
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown: unknown) => {
    process.stderr.write(`tenancykit: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}\n`);
    process.exitCode = 1;
  },
);
