import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createServer, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export function run(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${output}`));
    });
  });
}

let postgresIds: Promise<SpawnOptions> | undefined;

/**
 * Spawn options that run a process as the `postgres` OS user when we are root
 * (initdb, postgres and pgbouncer refuse to run as root); empty otherwise.
 * Spawning with uid/gid directly, rather than through runuser, lets signals
 * reach the server itself.
 */
export function asPostgresUser(): Promise<SpawnOptions> {
  postgresIds ??= (async () => {
    if (process.getuid?.() !== 0) return {};
    const uid = Number((await run("id", ["-u", "postgres"])).trim());
    const gid = Number((await run("id", ["-g", "postgres"])).trim());
    return { uid, gid, env: { ...process.env, HOME: "/var/lib/postgresql" } };
  })();
  return postgresIds;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts a long-running server process; it is killed when this process exits, whatever happens. */
export function startDaemon(
  command: string,
  args: readonly string[],
  logTo: (line: string) => void,
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, [...args], { ...options, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (chunk: Buffer) => logTo(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => logTo(chunk.toString()));
  children.add(child);
  child.on("exit", () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", () => {
      for (const c of children) c.kill("SIGKILL");
    });
  }
  return child;
}

export async function stopDaemon(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/**
 * A free loopback port in 20000–29999 whose +10000 neighbour is free too
 * (Redis Cluster uses port+10000 for its bus). Ports are never handed out
 * twice by one process; parallel vitest workers pick at random.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (handedOut.has(port)) continue;
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free loopback port found");
}

/** Waits until a TCP port accepts connections (and, if given, answers `probe` with `expect`). */
export async function waitForPort(
  port: number,
  timeoutMs = 20_000,
  probe?: { send: string; expect: string },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      const finish = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(1_000, () => finish(false));
      socket.once("error", () => finish(false));
      socket.connect(port, "127.0.0.1", () => {
        if (!probe) return finish(true);
        socket.write(probe.send);
        socket.once("data", (data) => finish(data.toString().includes(probe.expect)));
      });
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} did not become ready within ${timeoutMs} ms`);
}
