import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles the appender once per test file (pg included; pg-native left out), so each spawn is a plain `node` start. */
export async function bundleAppender(): Promise<string> {
  const outfile = join(mkdtempSync(join(tmpdir(), "tk-audit-")), "appender.mjs");
  await build({
    entryPoints: [join(here, "appender.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    external: ["pg-native"],
    banner: { js: `import { createRequire } from "node:module"; const require = createRequire(${JSON.stringify(join(here, "appender.ts"))});` },
    logLevel: "silent",
  });
  return outfile;
}

export interface AppenderRun {
  readonly child: ChildProcess;
  /** eventId → [workspaceId, seq] for every acknowledged append. */
  readonly acked: Map<string, [string, number]>;
  readonly errors: string[];
  readonly ready: Promise<void>;
  /** Resolves at the first acknowledged append (or exit). */
  readonly firstAck: Promise<void>;
  readonly exited: Promise<number | null>;
}

export function startAppender(
  script: string,
  args: { url: string; workspaces: string[]; tag: string; inFlight: number; total?: number; waitForGo?: boolean },
): AppenderRun {
  const child = spawn(process.execPath, [script, JSON.stringify(args)], {
    stdio: [args.waitForGo ? "pipe" : "ignore", "pipe", "pipe"],
    cwd: join(here, "../../../.."),
  });
  const acked = new Map<string, [string, number]>();
  const errors: string[] = [];
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  let ackResolve: () => void = () => undefined;
  const firstAck = new Promise<void>((r) => (ackResolve = r));
  let partial = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const [kind, id, ws, seq] = line.split(" ");
      if (kind === "ack" && id !== undefined && ws !== undefined) {
        acked.set(id, [ws, Number(seq)]);
        ackResolve();
      }
      else if (kind === "ready") readyResolve();
      else if (kind === "err") errors.push(line);
    }
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      if (code !== 0 && code !== null) errors.push(`exit ${code}: ${stderr}`);
      readyResolve();
      ackResolve();
      resolve(code);
    }),
  );
  return { child, acked, errors, ready, firstAck, exited };
}
