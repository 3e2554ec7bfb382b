import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { whenReady } from "./redis-clients.js";
import { startRedis, type RedisServer } from "./redis-server.js";

/**
 * A Redis server of the describe block's own (so INFO commandstats counts only
 * its commands), with one client created the way tenancykit asks. Call inside
 * `describe`; the returned getter is valid inside tests.
 */
export function dedicatedRedis(): () => Redis {
  let server: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { autoResendUnfulfilledCommands: false });
    await whenReady(client);
  });
  afterAll(async () => {
    client.disconnect();
    await server.stop();
  });
  return () => client;
}

/** Per-command `calls` from INFO commandstats (INFO itself excluded). */
export async function commandCounts(client: Redis): Promise<Map<string, number>> {
  const info = await client.info("commandstats");
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== "info") counts.set(match[1]!, Number(match[2]));
  }
  return counts;
}
