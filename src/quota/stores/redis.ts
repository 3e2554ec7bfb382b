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
  type StoreItem,
  type StoreOutcome,
  type StoreRequest,
} from "../store.js";
import { HotBatcher } from "./redis-batch.js";
import { HOT_SCRIPT } from "./redis-hot-script.js";
import { EXPIRY_FIELD, familyKey, fieldsOf, gcraPayload, hotArgs, inFamilyHash, type HotArgs } from "./redis-layout.js";
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
  /**
   * Rate and period decisions that arrive while others are in flight leave
   * together, up to this many in one EVALSHA (redis-batch.ts); each is still
   * decided on its own, in order, atomically. A larger batch holds Redis
   * longer (~5-10 µs a decision). 1 sends every decision alone.
   * @default 64
   */
  readonly maxBatch?: number;
}

/**
 * The Redis store: one EVALSHA per decision whatever the number of limits and
 * the hierarchy (under load, rate and period decisions share one: see
 * `maxBatch`), on Redis TIME. A family's rate and period state
 * is one hash and its count/concurrency keys share its hash tag, so a family
 * is one Cluster slot (layout: redis-layout.ts).
 */
export class RedisQuotaStore implements QuotaStore {
  readonly name = "redis";
  readonly kinds: readonly number[] = [KIND_COUNT, KIND_PERIOD, KIND_GCRA, KIND_SLIDING, KIND_CONCURRENCY];
  readonly runner: RedisRunner;
  readonly #reconnect: boolean;
  /** Encodings of the guard's static (frozen) item lists, so the hot path builds no strings. */
  readonly #plans = new WeakMap<readonly StoreItem[], Plan>();

  readonly #batcher: HotBatcher;
  readonly #batching: boolean;

  /** @throws TypeError when the client replays commands, or the timeout or batch size is invalid. */
  constructor(options: RedisQuotaStoreOptions) {
    const maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new TypeError(`RedisQuotaStore: maxBatch must be a positive integer, got ${maxBatch}`);
    this.runner = new RedisRunner(options.client, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    this.#reconnect = options.reconnectOnTimeout ?? true;
    this.#batcher = new HotBatcher(this.runner, maxBatch);
    this.#batching = maxBatch > 1;
  }

  key(root: string, workspaceId: string, limit: string): string {
    return redisKey(root as WorkspaceId, "quota", workspaceId, limit);
  }

  apply(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const { items, mode } = request;
    if (mode === "consume" || mode === "check") {
      const plan = this.#plan(items);
      if (plan.hot) return this.#hot(plan, items, mode === "check");
    }
    return this.#general(request);
  }

  /**
   * Rate, period and sliding items: sent alone when the store is idle (the
   * one-GCRA script for the commonest shape), otherwise batched.
   */
  #hot(plan: Plan, items: readonly StoreItem[], check: boolean): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const batcher = this.#batcher;
    if (this.#batching && !batcher.idle) {
      return batcher.enqueue(plan.keys[0]!, hotArgsOf(plan, items, check)).then((reply) => this.#finishHot(reply, items));
    }
    batcher.inFlight++;
    if (plan.gcra !== undefined && !check) {
      return this.runner.runScript(GCRA_CONSUME_SCRIPT, plan.keys, [plan.gcra]).then((reply) => {
        batcher.inFlight--;
        return this.#finishGcra(reply, items[0]!);
      });
    }
    const { shape, owner } = hotArgsOf(plan, items, check);
    return this.runner.runScript(HOT_SCRIPT, plan.keys, [shape, owner]).then((reply) => {
      batcher.inFlight--;
      return this.#finishHot(reply, items);
    });
  }

  /**
   * How a list of items is sent: its family key, whether the minimal scripts
   * apply, and their payloads. Frozen lists (the guard's prebuilt cost-1 items)
   * are encoded once and remembered; other lists are encoded per call.
   */
  #plan(items: readonly StoreItem[]): Plan {
    const cached = this.#plans.get(items);
    if (cached !== undefined) return cached;
    const first = items[0];
    const hot = first !== undefined && items.every((item) => inFamilyHash(item.kind));
    const plan: Plan = {
      keys: first === undefined ? [] : [familyKey(first.key)],
      hot,
      gcra: hot && items.length === 1 && first!.kind === KIND_GCRA ? gcraPayload(first!) : undefined,
      consume: undefined,
      check: undefined,
    };
    if (Object.isFrozen(items)) this.#plans.set(items, plan);
    return plan;
  }

  /** Every mode and kind: the general script (holds, leases, refunds, reconcile). */
  async #general(request: StoreRequest): Promise<Result<StoreOutcome, QuotaStoreError>> {
    const { items } = request;
    const keys: string[] = [items[0] === undefined ? "" : familyKey(items[0].key)];
    const fields: string[] = [];
    const nums: (string | number)[] = [];
    for (const item of items) {
      if (inFamilyHash(item.kind)) fields.push(...fieldsOf(item));
      else keys.push(item.key, `${item.key}:holds`);
      nums.push(item.kind, item.limit, item.cost, item.a, item.b);
    }
    fields.push(EXPIRY_FIELD);
    const args = [request.mode, request.reservationId ?? "", request.minimum ?? 1, request.since ?? 0, items.length, fields.length, ...fields, ...nums];
    const reply = await this.runner.runScript(QUOTA_SCRIPT, keys, args);
    if (reply.isErr()) return this.#failed(reply.error);
    return parseReply(reply.value, items.length);
  }

  /** `"now remaining resetAt"` (allowed) or `"now remaining resetAt retryAfterMs"` (denied). */
  #finishGcra(reply: Result<unknown, QuotaStoreError>, item: StoreItem): Result<StoreOutcome, QuotaStoreError> {
    if (reply.isErr()) return this.#failed(reply.error);
    const v = reply.value;
    if (typeof v !== "string") return unexpected(v);
    const a = v.indexOf(" ");
    const b = v.indexOf(" ", a + 1);
    const c = v.indexOf(" ", b + 1);
    const now = Number(v.slice(0, a));
    const remaining = Number(v.slice(a + 1, b));
    const resetAt = Number(c === -1 ? v.slice(b + 1) : v.slice(b + 1, c));
    const retryAfterMs = c === -1 ? 0 : Number(v.slice(c + 1));
    if (a === -1 || b === -1 || !(now >= 0 && remaining >= 0 && resetAt >= 0 && retryAfterMs >= 0)) return unexpected(v);
    const allowed = c === -1;
    return ok({ allowed, failed: allowed ? -1 : 0, granted: allowed ? item.cost : 0, now, found: true, states: [{ remaining, resetAt, retryAfterMs }] });
  }

  /** `[failed, now, then per item remaining, resetAt, retryAfterMs]`. */
  #finishHot(reply: Result<unknown, QuotaStoreError>, items: readonly StoreItem[]): Result<StoreOutcome, QuotaStoreError> {
    if (reply.isErr()) return this.#failed(reply.error);
    const v = reply.value;
    const n = items.length;
    if (!Array.isArray(v) || v.length !== 2 + 3 * n) return unexpected(v);
    for (let i = 0; i < v.length; i++) if (typeof v[i] !== "number") return unexpected(v);
    const states: ItemState[] = [];
    for (let i = 0; i < n; i++) states.push({ remaining: v[2 + 3 * i] as number, resetAt: v[3 + 3 * i] as number, retryAfterMs: v[4 + 3 * i] as number });
    const failed = v[0] as number;
    return ok({ allowed: failed === -1, failed, granted: failed === -1 ? items[0]!.cost : 0, now: v[1] as number, found: true, states });
  }

  #failed(error: QuotaStoreError): Result<StoreOutcome, QuotaStoreError> {
    if (error.type === "StoreUnavailable" && /within \d+ ms/.test(error.message)) this.#resync();
    return err(error);
  }

  #resync(): void {
    const client = this.runner.client;
    if (!this.#reconnect || client.status !== "ready") return;
    client.disconnect(true);
  }
}

/** How one item list is sent (see `#plan`). */
interface Plan {
  readonly keys: readonly string[];
  /** Rate, period and sliding items only: the minimal script applies to consume/check. */
  readonly hot: boolean;
  /** One GCRA item: the payload of the one-item consume script. */
  readonly gcra: string | undefined;
  consume: HotArgs | undefined;
  check: HotArgs | undefined;
}

/** The minimal script's arguments for a plan (remembered on the plan). */
function hotArgsOf(plan: Plan, items: readonly StoreItem[], check: boolean): HotArgs {
  return check ? (plan.check ??= hotArgs(items, true)) : (plan.consume ??= hotArgs(items, false));
}

function unexpected(value: unknown): Result<StoreOutcome, QuotaStoreError> {
  return err(storeFailed(`quota script returned an unexpected reply: ${JSON.stringify(value).slice(0, 200)}`));
}

function parseReply(value: unknown, n: number): Result<StoreOutcome, QuotaStoreError> {
  if (!Array.isArray(value) || value.length !== 5 + 3 * n || !value.every((v) => typeof v === "number")) return unexpected(value);
  const v = value as number[];
  const states: ItemState[] = new Array<ItemState>(n);
  for (let i = 0; i < n; i++) states[i] = { remaining: v[5 + 3 * i]!, resetAt: v[6 + 3 * i]!, retryAfterMs: v[7 + 3 * i]! };
  return ok({ allowed: v[0] === 1, failed: v[1]!, granted: v[2]!, now: v[3]!, found: v[4] === 1, states });
}

/** Creates the Redis quota store. */
export function redisQuotaStore(options: RedisQuotaStoreOptions): RedisQuotaStore {
  return new RedisQuotaStore(options);
}
