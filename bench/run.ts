import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { BenchContext } from "./harness.js";

/**
 * `npm run bench -- <module> [--quick]`: runs bench/<module>.bench.ts and
 * writes bench/results/<module>.json.
 */
const here = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { quick: { type: "boolean", default: false } },
  });
  const [module] = positionals;
  if (module === undefined) {
    console.error("usage: npm run bench -- <module> [--quick]");
    return 1;
  }
  const file = join(here, `${module}.bench.ts`);
  if (!existsSync(file)) {
    console.error(`no benchmark for module ${JSON.stringify(module)} (expected ${file})`);
    return 1;
  }
  const bench = (await import(pathToFileURL(file).href)) as { default: (ctx: BenchContext) => Promise<void> };
  const context = new BenchContext(module, values.quick === true);
  console.log(`bench ${module}${context.quick ? " (quick)" : ""}: ours vs peers, alternating rounds, medians`);
  await bench.default(context);
  const written = context.write(join(here, "results"));
  console.log(`wrote ${written}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
