import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { RedisTenantCache, type BusSubscriber, type RedisTenantCacheOptions } from "../../../src/cache/redis.js";
import { parseWorkspaceId, type WorkspaceId } from "../../../src/core/workspace-id.js";
import { redisClient, whenReady } from "../../support/redis-clients.js";

export interface TestNode<V> {
  readonly cache: RedisTenantCache<V>;
  readonly client: Redis;
  readonly subscriber: Redis;
  /** What the cache subscribes through (the wrapper, when one was given). */
  readonly bus: BusSubscriber;
  close(): Promise<void>;
}

/** A "process": its own command client, its own subscriber connection and its own cache. */
export async function startNode<V>(
  url: string,
  options: Partial<RedisTenantCacheOptions<V>> & { readonly wrap?: (s: Redis) => BusSubscriber } = {},
): Promise<TestNode<V>> {
  const client = redisClient(url);
  const subscriber = redisClient(url);
  await Promise.all([whenReady(client), whenReady(subscriber)]);
  const bus = options.wrap ? options.wrap(subscriber) : subscriber;
  const cache = new RedisTenantCache<V>({ maxBytes: 10_000_000, ...options, client, subscriber: bus });
  (await cache.start())._unsafeUnwrap();
  return {
    cache,
    client,
    subscriber,
    bus,
    close: async () => {
      await cache.close();
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

let counter = 0;
/** A fresh workspace id per test so files can share one Redis. */
export function freshWorkspace(): WorkspaceId {
  const n = (Date.now() * 1000 + (counter++ % 1000)) % 0xffffffffffff;
  return parseWorkspaceId(`${process.pid.toString(16).padStart(8, "0").slice(-8)}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)._unsafeUnwrap();
}

/** A unique channel per test so nodes of different tests never see each other. */
export const freshChannel = (): string => `tk:cache:test:${process.pid}:${Date.now()}:${counter++}`;

export { sleep };

/** Polls until `check` holds (a "settles within" bound, not a timing claim). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition did not hold in time");
    await sleep(5);
  }
}

/** Counts the commands a client sends (round trips), by name. */
export function countCommands(client: Redis): { names: string[]; reset(): void } {
  const names: string[] = [];
  const original = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string }, stream?: unknown) => {
    names.push(command.name);
    return original(command as never, stream as never);
  }) as typeof client.sendCommand;
  return { names, reset: () => void names.splice(0) };
}
