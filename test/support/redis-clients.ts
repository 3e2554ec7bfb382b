import { Cluster, Redis } from "ioredis";
import { inject } from "vitest";

/**
 * ioredis clients configured the way tenancykit asks its users to: no replay
 * of in-flight commands after a reconnect (see RedisRunner), and quick
 * reconnects so fault tests recover promptly.
 */
export function redisClient(url = inject("servers").redisUrl): Redis {
  const client = new Redis(url, {
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
  });
  // Fault tests stop Redis on purpose; what a caller sees is asserted through our Results, so the
  // client's own connection errors are expected here (ioredis prints them when nobody listens).
  client.on("error", () => undefined);
  return client;
}

export function clusterClient(nodes = inject("servers").clusterNodes): Cluster {
  return new Cluster([...nodes], {
    redisOptions: { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 1 },
    retryDelayOnFailover: 0,
    clusterRetryStrategy: () => 100,
  });
}

/** Resolves once the client reports `ready`. */
export async function whenReady(client: Redis | Cluster): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    setTimeout(() => reject(new Error(`redis client not ready (status ${client.status})`)), 10_000);
  });
}
