import { err, ok, type Result } from "neverthrow";
import { storeFailed, storeUnavailable } from "../../core/errors.js";
import { hashTagOf } from "../../core/redis/keys.js";
import { isCluster, type RedisCallError, type RedisRunner } from "../../core/redis/runner.js";
import { HOT_BATCH_SCRIPT } from "./redis-hot-script.js";
import type { HotArgs } from "./redis-layout.js";

/** One decision waiting for the next batch: its family hash, its arguments and its caller. */
interface Waiting {
  readonly key: string;
  readonly args: HotArgs;
  readonly resolve: (reply: Result<unknown, RedisCallError>) => void;
}

/**
 * Coalesces minimal-script decisions into one EVALSHA while the store is busy.
 *
 * A decision sent while none of the store's calls is in flight goes out at
 * once, alone (one decision in flight pays no batching delay). One that
 * arrives while calls are in flight waits for the end of the current turn of
 * the event loop (`setImmediate`) and leaves with every other decision that
 * arrived in that turn, as one HOT_BATCH_SCRIPT call. Under load this removes
 * most of the per-call cost (ioredis' command, its promise, the script's own
 * start-up) from each decision, and Redis still decides them one by one, in
 * order, atomically. On a Cluster a batch holds only keys of one hash tag
 * (one slot), so it never fails with CROSSSLOT.
 *
 * Every decision still settles within the runner's timeout, counted from when
 * it arrived: the time a decision waited is taken off its batch's deadline,
 * and a batch whose oldest decision has run out of time is failed unsent.
 */
export class HotBatcher {
  /** Calls of the store (batches and lone decisions) awaiting their reply. */
  inFlight = 0;
  readonly #runner: RedisRunner;
  readonly #cluster: boolean;
  readonly #maxBatch: number;
  readonly #waiting = new Map<string, Waiting[]>();
  /** When the oldest waiting decision arrived (ms), or -1 when none waits. */
  #since = -1;

  constructor(runner: RedisRunner, maxBatch: number) {
    this.#runner = runner;
    this.#cluster = isCluster(runner.client);
    this.#maxBatch = maxBatch;
  }

  /** True when a decision should be sent alone, now. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /** Queues a decision for the next batch; resolves with its own reply (HOT_SCRIPT's shape). */
  enqueue(key: string, args: HotArgs): Promise<Result<unknown, RedisCallError>> {
    return new Promise((resolve) => {
      const group = this.#cluster ? hashTagOf(key) : "";
      const queue = this.#waiting.get(group);
      if (queue === undefined) this.#waiting.set(group, [{ key, args, resolve }]);
      else queue.push({ key, args, resolve });
      if (this.#since === -1) {
        this.#since = Date.now();
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const remainingMs = this.#since + this.#runner.timeoutMs - Date.now();
    this.#since = -1;
    const groups = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const queue of groups) {
      if (queue.length <= this.#maxBatch) this.#send(queue, remainingMs);
      else for (let start = 0; start < queue.length; start += this.#maxBatch) this.#send(queue.slice(start, start + this.#maxBatch), remainingMs);
    }
  }

  #send(batch: readonly Waiting[], remainingMs: number): void {
    if (remainingMs <= 0) {
      // The event loop was blocked past the deadline: fail unsent, so nothing is consumed.
      const failure = err(storeUnavailable(`${HOT_BATCH_SCRIPT.name} not sent: the event loop was blocked past its ${this.#runner.timeoutMs} ms timeout`));
      for (const waiting of batch) waiting.resolve(failure);
      return;
    }
    // Each distinct shape once (ARGV[1]), then per decision its shape's number and its owner.
    const keys: string[] = [];
    const args: (string | number)[] = [""];
    const shapes = new Map<string, number>();
    for (const { key, args: own } of batch) {
      let number = shapes.get(own.shape);
      if (number === undefined) shapes.set(own.shape, (number = shapes.size + 1));
      keys.push(key);
      args.push(number, own.owner);
    }
    args[0] = `[${[...shapes.keys()].join(",")}]`;
    // The shared deadline timer unless the wait used up part of the timeout (a whole ms).
    const options = remainingMs < this.#runner.timeoutMs ? { timeoutMs: remainingMs } : undefined;
    this.inFlight++;
    void this.#runner.runScript(HOT_BATCH_SCRIPT, keys, args, options).then((reply) => {
      this.inFlight--;
      if (reply.isErr()) {
        for (const waiting of batch) waiting.resolve(reply);
        return;
      }
      const replies = reply.value;
      if (!Array.isArray(replies) || replies.length !== batch.length) {
        const failure = err(storeFailed(`quota batch script returned ${Array.isArray(replies) ? replies.length : typeof replies} replies for ${batch.length} decisions`));
        for (const waiting of batch) waiting.resolve(failure);
        return;
      }
      for (let i = 0; i < batch.length; i++) {
        const one: unknown = replies[i];
        batch[i]!.resolve(typeof one === "string" ? err(storeFailed(`quota script failed: ${one}`)) : ok(one));
      }
    });
  }
}
