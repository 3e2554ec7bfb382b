import type { Cluster, Redis } from "ioredis";
import { err, ok, type Result } from "neverthrow";
import { describeThrown, storeFailed, storeUnavailable, type StoreFailedError, type StoreUnavailableError } from "../errors.js";
import { deadlineIn, DeadlineQueue, type Deadline } from "./deadlines.js";
import type { LuaScript } from "./script.js";

/** The user's ioredis client: a single `Redis` or a `Cluster`. tenancykit never creates one. */
export type RedisClient = Redis | Cluster;

export type RedisCallError = StoreUnavailableError | StoreFailedError;

export interface RedisRunnerOptions {
  /**
   * Every call settles within this many milliseconds, whether Redis answers,
   * refuses, or is blackholed (ioredis alone can stall ~10 s).
   * @default 50
   */
  readonly timeoutMs?: number;
  /**
   * ioredis re-sends commands that were in flight when a connection dropped
   * (`autoResendUnfulfilledCommands`, on by default). For a quota that is a
   * silent second consumption of a call that already reported a timeout, so
   * the runner refuses such a client unless this is set.
   * @default false
   */
  readonly acceptCommandReplay?: boolean;
}

export interface RunOptions {
  /** Overrides the runner's timeout for one call. */
  readonly timeoutMs?: number;
}

/**
 * Runs our Lua scripts and commands on a user-supplied ioredis client with the
 * guarantees every module relies on: a hard per-call timeout, EVALSHA with a
 * NOSCRIPT fallback, typed errors instead of rejections, and no command queued
 * while disconnected (a queued command would run later, after its caller was
 * told it failed).
 */
export class RedisRunner {
  readonly client: RedisClient;
  readonly timeoutMs: number;
  readonly #deadlines = new DeadlineQueue();

  constructor(client: RedisClient, options: RedisRunnerOptions = {}) {
    const problems: string[] = [];
    const timeoutMs = options.timeoutMs ?? 50;
    const badTimeout = timeoutProblem(timeoutMs);
    if (badTimeout !== undefined) problems.push(badTimeout);
    if (!options.acceptCommandReplay && replaysCommands(client)) {
      problems.push(`the ioredis client ${REPLAY_PROBLEM} or pass acceptCommandReplay: true`);
    }
    if (problems.length > 0) throw new TypeError(`RedisRunner: ${problems.join("; ")}`);
    this.client = client;
    this.timeoutMs = timeoutMs;
  }

  /** True when the client is connected and a call would be sent now. */
  get ready(): boolean {
    return this.client.status === "ready";
  }

  /** Runs a Lua script: one EVALSHA, or EVALSHA + EVAL after NOSCRIPT. */
  runScript(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    options?: RunOptions,
  ): Promise<Result<unknown, RedisCallError>> {
    const client = this.client;
    return this.call(
      () => client.evalsha(script.sha, keys.length, ...keys, ...args),
      script.name,
      options,
      // Only after NOSCRIPT (a restart or SCRIPT FLUSH): the source, once.
      () => client.eval(script.source, keys.length, ...keys, ...args),
    );
  }

  /** Runs any other command (through a callback on the client) with the same guarantees. */
  command<T>(
    name: string,
    send: (client: RedisClient) => Promise<T>,
    options?: RunOptions,
  ): Promise<Result<T, RedisCallError>> {
    return this.call(() => send(this.client), name, options, undefined);
  }

  /**
   * One promise per call, settled by whichever comes first: the reply or the
   * deadline. Calls with the runner's own timeout share one timer
   * (deadlines.ts); a per-call override gets its own. Written out by hand
   * rather than with `Promise.race` (two extra promises and handlers per call);
   * error messages are only built when a call fails.
   */
  private call<T>(
    send: () => Promise<T>,
    what: string,
    options: RunOptions | undefined,
    onNoScript: (() => Promise<T>) | undefined,
  ): Promise<Result<T, RedisCallError>> {
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    // NaN, 0 or a negative timeout would time out at once, and one past setTimeout's range in 1 ms.
    const badTimeout = timeoutMs === this.timeoutMs ? undefined : timeoutProblem(timeoutMs);
    if (badTimeout !== undefined) return Promise.resolve(err(storeFailed(`${what}: ${badTimeout}`)));
    const status = this.client.status;
    if (status !== "ready") {
      return Promise.resolve(err(storeUnavailable(`redis is not connected (status ${status}); ${what} not sent`)));
    }
    const deadlines = timeoutMs === this.timeoutMs ? this.#deadlines : undefined;
    // Only anonymous callbacks below: a named closure per call costs a defineProperty under
    // transpilers that keep function names (tsx, which runs the tests and benchmarks).
    return new Promise((resolve) => {
      const call = new PendingCall(deadlineIn(timeoutMs), resolve, what, timeoutMs, deadlines);
      if (deadlines !== undefined) deadlines.add(call);
      else call.timer = setTimeout(() => call.timedOut(), timeoutMs);
      startCall(send).then(
        (value) => call.settle(ok(value)),
        (thrown: unknown) => {
          if (onNoScript !== undefined && !call.settled && isNoScript(thrown)) {
            // NOSCRIPT (a restart, SCRIPT FLUSH): EVAL once, within the same deadline.
            startCall(onNoScript).then(
              (value) => call.settle(ok(value)),
              (thrownAgain: unknown) => call.settle(err(classify(thrownAgain, what))),
            );
          } else call.settle(err(classify(thrown, what)));
        },
      );
    });
  }
}

/** One call in flight: settled once, by its answer or its deadline. */
class PendingCall<T> implements Deadline {
  settled = false;
  timer: NodeJS.Timeout | undefined = undefined;
  readonly at: number;
  readonly #resolve: (result: Result<T, RedisCallError>) => void;
  readonly #what: string;
  readonly #timeoutMs: number;
  readonly #deadlines: DeadlineQueue | undefined;

  constructor(at: number, resolve: (result: Result<T, RedisCallError>) => void, what: string, timeoutMs: number, deadlines: DeadlineQueue | undefined) {
    this.at = at;
    this.#resolve = resolve;
    this.#what = what;
    this.#timeoutMs = timeoutMs;
    this.#deadlines = deadlines;
  }

  settle(result: Result<T, RedisCallError>): void {
    if (this.settled) return;
    this.settled = true;
    if (this.#deadlines !== undefined) this.#deadlines.settled();
    else clearTimeout(this.timer);
    this.#resolve(result);
  }

  /** Its own timer fired (a per-call timeout override). */
  timedOut(): void {
    if (this.settled) return;
    this.settled = true;
    this.expire();
  }

  /** Called once, unsettled, when the deadline passes. */
  expire(): void {
    this.#resolve(err(storeUnavailable(`redis did not answer ${this.#what} within ${this.#timeoutMs} ms`)));
  }
}

/** The longest timeout Node's timers can wait (a longer one fires after 1 ms). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function timeoutProblem(ms: unknown): string | undefined {
  return typeof ms === "number" && ms > 0 && ms <= MAX_TIMEOUT_MS ? undefined : `timeoutMs must be a positive number up to ${MAX_TIMEOUT_MS}, got ${String(ms)}`;
}

/** What is wrong with a client for which `replaysCommands` is true, and how to create it instead. */
export const REPLAY_PROBLEM =
  "re-sends in-flight commands after a reconnect; create it with " +
  "{ autoResendUnfulfilledCommands: false } (for a Cluster: { redisOptions: { autoResendUnfulfilledCommands: false }, retryDelayOnFailover: 0 })";

/**
 * True when the client may send a command again after its caller was told it
 * failed: a `Redis` re-sends in-flight commands after a reconnect unless
 * `autoResendUnfulfilledCommands` is off; a `Cluster` does so through its node
 * connections' options, and also re-sends a command whose node connection
 * closed ("Connection is closed.", which Redis may already have run) after
 * `retryDelayOnFailover` (100 ms by default) unless that is 0.
 */
export function replaysCommands(client: RedisClient): boolean {
  const options = client.options as {
    autoResendUnfulfilledCommands?: boolean;
    redisOptions?: { autoResendUnfulfilledCommands?: boolean };
    retryDelayOnFailover?: number;
  };
  if ("redisOptions" in options || isCluster(client)) {
    return options.redisOptions?.autoResendUnfulfilledCommands !== false || (options.retryDelayOnFailover ?? 100) > 0;
  }
  return options.autoResendUnfulfilledCommands !== false;
}

/** True for an ioredis `Cluster`. */
export function isCluster(client: RedisClient): boolean {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function isNoScript(thrown: unknown): boolean {
  return thrown instanceof Error && thrown.message.startsWith("NOSCRIPT");
}

/** Connection-level failures are retryable; script and data errors are not. */
function classify(thrown: unknown, what: string): RedisCallError {
  const message = describeThrown(thrown);
  const connectionProblem =
    /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection is closed|Stream isn't writeable|CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|enableOfflineQueue|MaxRetriesPerRequest/i.test(
      message,
    );
  return connectionProblem
    ? storeUnavailable(`redis failed ${what}: ${message}`, { cause: thrown })
    : storeFailed(`redis rejected ${what}: ${message}`, { cause: thrown });
}

/** Starts a client call; one that throws synchronously (bad arguments) becomes a rejection, not an exception. */
function startCall<T>(send: () => Promise<T>): Promise<T> {
  try {
    return send();
  } catch (thrown) {
    return Promise.reject(thrown);
  }
}
