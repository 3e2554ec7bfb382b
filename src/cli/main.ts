#!/usr/bin/env node
import { parseArgs } from "node:util";
import { runDemo } from "./demo/run-demo.js";

const USAGE = `usage: tenancykit <command>

commands:
  demo      run a multi-workspace scenario on the embedded defaults (no servers)
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
  if (values.help === true || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  switch (command) {
    case "demo":
      await runDemo();
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
