import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureServerBinaries } from "./binaries.js";
import { freePort, run, startDaemon, stopDaemon, waitForPort } from "./process.js";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGKILL when `crash`), keeping the port for `restart`. */
  stop(options?: { crash?: boolean }): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
}

function redisArgs(port: number, dir: string, extra: readonly string[]): string[] {
  return [
    "--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
    "--save", "", "--appendonly", "no", "--protected-mode", "no", ...extra,
  ];
}

/**
 * Starts a throwaway Redis 7 on a free loopback port. Fault tests use their
 * own instance so they can stop and restart it without touching others.
 */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisServer> {
  await ensureServerBinaries();
  const dir = mkdtempSync(join(tmpdir(), "tk-redis-"));
  const port = await freePort();
  let log = "";
  const launch = async () => {
    const child = startDaemon("/usr/bin/redis-server", redisArgs(port, dir, extraArgs), (l) => (log += l));
    try {
      await waitForPort(port, 15_000, { send: "PING\r\n", expect: "PONG" });
    } catch (error) {
      await stopDaemon(child, "SIGKILL");
      throw new Error(`redis did not start: ${String(error)}\n${log}`);
    }
    return child;
  };
  let child = await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async (options = {}) => {
      await stopDaemon(child, options.crash ? "SIGKILL" : "SIGTERM");
    },
    restart: async () => {
      child = await launch();
    },
  };
}

export interface RedisClusterServer {
  /** `host:port` of each master. */
  readonly nodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

/**
 * Starts a 3-master Redis Cluster (no replicas) on loopback and waits until
 * every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterServer> {
  await ensureServerBinaries();
  const dir = mkdtempSync(join(tmpdir(), "tk-cluster-"));
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) ports.push(await freePort());
  let log = "";
  const children = ports.map((port) =>
    startDaemon(
      "/usr/bin/redis-server",
      redisArgs(port, dir, [
        "--cluster-enabled", "yes",
        "--cluster-config-file", `nodes-${port}.conf`,
        "--cluster-node-timeout", "2000",
      ]),
      (l) => (log += l),
    ),
  );
  try {
    for (const port of ports) await waitForPort(port, 15_000, { send: "PING\r\n", expect: "PONG" });
    await run("/usr/bin/redis-cli", [
      "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes",
    ]);
    await waitForClusterOk(ports);
  } catch (error) {
    await Promise.all(children.map((c) => stopDaemon(c, "SIGKILL")));
    throw new Error(`redis cluster did not start: ${String(error)}\n${log}`);
  }
  return {
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    stop: async () => {
      await Promise.all(children.map((c) => stopDaemon(c)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForClusterOk(ports: readonly number[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = await Promise.all(
      ports.map((p) => run("/usr/bin/redis-cli", ["-p", String(p), "cluster", "info"]).catch(() => "")),
    );
    if (states.every((s) => s.includes("cluster_state:ok"))) return;
    if (Date.now() > deadline) throw new Error(`cluster not ok:\n${states.join("\n")}`);
    await sleep(100);
  }
}
