import { err, ok, type Result } from "neverthrow";
import { storeFailed } from "../../core/errors.js";
import { redisKey } from "../../core/redis/keys.js";
import { RedisRunner, type RedisClient } from "../../core/redis/runner.js";
import type { WorkspaceId } from "../../core/workspace-id.js";
import {
  KIND_CONCURRENCY,
  KIND_COUNT,
  KIND_GCRA,
  KIND_PERIOD,
  KIND_SLIDING,
  type ItemState,
  type QuotaStore,
  type QuotaStoreError,
  type StoreOutcome,
  type StoreRequest,
} from "../store.js";
import { HOT_SCRIPT } from "./redis-hot-script.js";
import { GCRA_CONSUME_SCRIPT, QUOTA_SCRIPT } from "./redis-script.js";

export interface RedisQuotaStoreOptions {
  /**
   * The user's ioredis `Redis` or `Cluster`, created with
   * `autoResendUnfulfilledCommands: false` (a replayed decision would be counted twice).
   */
  readonly client: RedisClient;
  /** Every decision settles within this many ms, even with Redis blackholed. @default 50 */
  readonly timeoutMs?: number;
  /**
   * After a timeout the connection's reply stream is in an unknown state (a
   * reply may still arrive for a command we gave up on), so the store asks
   * ioredis to reconnect; in-flight commands are rejected, never replayed.
   * @default true
   */
  readonly reconnectOnTimeout?: boolean;
}

/**
 * The Redis store: exactly one EVALSHA per decision whatever the number of
 * limits and the hierarchy, on Redis TIME, keys `tk:{<root>}:quota:<ws>:<limit>`
 * so a family shares one Cluster slot.
 */
export class RedisQuotaStore implements QuotaStore {
  readonly name = "redis";
  readonly kinds: readonly number[] = [KIND_COUNT, KIND_PERIOD, KIND_GCRA, KIND_SLIDING, KIND_CONCURRENCY];
  readonly runner: RedisRunner;
  readonly #reconnect: boolean;

  /** @throws TypeError when the client replays commands or the timeout is invalid. */
  constructor(options: RedisQuotaStoreOptions) {
    this.runner = new RedisRunner(options.client, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    this.#reconnect = options.reconnectOnTimeout ?? true;
  }

  key(root: string, workspaceId: string, limit: string): string {
    return redisKey(root as WorkspaceId, "quota", workspaceId, limit);
  }

  async apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const { items } = request;
    const only = items[0];
    if (items.length === 1 && only !== undefined && only.kind === KIND_GCRA && request.mode === "consume") {
      const reply = await this.runner.runScript(GCRA_CONSUME_SCRIPT, [only.key], [only.limit, only.cost, only.a, only.b]);
      return this.#finish(reply, 1);
    }
    const n = items.length;
    if (request.mode === "consume" || request.mode === "check") {
      // Rate, period and sliding items only (no holds): the minimal script.
      const keys: string[] = new Array<string>(n);
      const args: (string | number)[] = new Array<string | number>(1 + 5 * n);
      args[0] = request.mode === "check" ? 1 : 0;
      let hot = true;
      for (let i = 0; i < n; i++) {
        const item = items[i]!;
        if (item.kind === KIND_COUNT || item.kind === KIND_CONCURRENCY) {
          hot = false;
          break;
        }
        keys[i] = item.key;
        const o = 1 + 5 * i;
        args[o] = item.kind;
        args[o + 1] = item.limit;
        args[o + 2] = item.cost;
        args[o + 3] = item.a;
        args[o + 4] = item.b;
      }
      if (hot) return this.#finish(await this.runner.runScript(HOT_SCRIPT, keys, args), n);
    }
    const keys: string[] = [];
    const args: (string | number)[] = [request.mode, request.reservationId ?? "", request.minimum ?? 1, request.since ?? 0, items.length];
    for (const item of items) {
      keys.push(item.key);
      if (item.kind === KIND_COUNT || item.kind === KIND_CONCURRENCY) keys.push(`${item.key}:holds`);
      args.push(item.kind, item.limit, item.cost, item.a, item.b);
    }
    return this.#finish(await this.runner.runScript(QUOTA_SCRIPT, keys, args), items.length);
  }

  #finish(reply: Result<unknown, QuotaStoreError>, n: number): Result<StoreOutcome, QuotaStoreError> {
    if (reply.isErr()) {
      if (reply.error.type === "StoreUnavailable" && /within \d+ ms/.test(reply.error.message)) this.#resync();
      return err(reply.error);
    }
    return parseReply(reply.value, n);
  }

  #resync(): void {
    const client = this.runner.client;
    if (!this.#reconnect || client.status !== "ready") return;
    client.disconnect(true);
  }
}

function parseReply(value: unknown, n: number): Result<StoreOutcome, QuotaStoreError> {
  if (!Array.isArray(value) || value.length !== 5 + 3 * n || !value.every((v) => typeof v === "number")) {
    return err(storeFailed(`quota script returned an unexpected reply: ${JSON.stringify(value).slice(0, 200)}`));
  }
  const v = value as number[];
  const states: ItemState[] = new Array<ItemState>(n);
  for (let i = 0; i < n; i++) states[i] = { remaining: v[5 + 3 * i]!, resetAt: v[6 + 3 * i]!, retryAfterMs: v[7 + 3 * i]! };
  return ok({ allowed: v[0] === 1, failed: v[1]!, granted: v[2]!, now: v[3]!, found: v[4] === 1, states });
}

/** Creates the Redis quota store. */
export function redisQuotaStore(options: RedisQuotaStoreOptions): RedisQuotaStore {
  return new RedisQuotaStore(options);
}
