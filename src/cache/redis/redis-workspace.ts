import { err, ok, type Result } from "neverthrow";
import { describeThrown, describeValue, tenancyError } from "../../core/errors.js";
import { redisKeyPrefix } from "../../core/redis/keys.js";
import { isWellFormed } from "../../core/text.js";
import type { WorkspaceId } from "../../core/workspace-id.js";
import { invalidKey, loaderFailed, type CacheError } from "../errors.js";
import { loadThrough, type Fetch, type Loader } from "../load.js";
import { decodeStored, encodeStored } from "./codec.js";
import { clearScript, deleteScript, fillScript, readScript, writeScript } from "./scripts.js";
import type { RedisTier } from "./tier.js";

const OK_VOID: Result<void, never> = ok(undefined);

/** Per-call options of the Redis tier's invalidating operations. */
export interface InvalidateOptions {
  /** Resolve only after every live node confirmed it dropped the entry. @default the cache's `acknowledged` option */
  readonly acknowledged?: boolean;
}

/**
 * A workspace handle on the Redis tier: local (L1) partition in front of the
 * shared Redis entries. Key names are computed once here; a read of the
 * generation, the key's version and the entry is one EVALSHA.
 */
export class RedisWorkspaceCache<V> {
  readonly #genKey: string;
  readonly #versionPrefix: string;
  readonly #entryPrefix: string;

  /** @internal use `RedisTenantCache.workspace(id)`. */
  constructor(
    private readonly tier: RedisTier<V>,
    readonly workspaceId: WorkspaceId,
  ) {
    const prefix = redisKeyPrefix(workspaceId, "cache");
    this.#genKey = `${prefix}gen`;
    this.#versionPrefix = `${prefix}v:`;
    this.#entryPrefix = `${prefix}e:`;
  }

  /** Local tier, then Redis. Concurrent reads of one key share one round trip. */
  get(key: string): Promise<Result<V | undefined, CacheError>> {
    const bad = this.#check(key);
    if (bad !== undefined) return Promise.resolve(err(bad));
    return loadThrough(this.tier.core, this.workspaceId, key, this.#fetch(key, undefined));
  }

  /**
   * Local tier, then Redis, then the loader (once per key per process); the
   * loaded value is written to Redis only if no invalidation of the key or
   * workspace happened since the Redis read (a fenced fill). While Redis is
   * unreachable the loader's value is served and kept locally only.
   */
  getOrLoad(key: string, loader: Loader<V>): Promise<Result<V | undefined, CacheError>> {
    const bad = this.#check(key);
    if (bad !== undefined) return Promise.resolve(err(bad));
    // Checked here: inside, no loader means a plain read (get), which would answer a miss instead.
    if (typeof loader !== "function") {
      return Promise.resolve(err(loaderFailed(`loader for key ${JSON.stringify(key)} is not a function`, this.workspaceId, undefined)));
    }
    return loadThrough(this.tier.core, this.workspaceId, key, this.#fetch(key, loader));
  }

  /** Writes the value to Redis (bumping the key's version) and tells the other nodes to drop theirs. */
  async set(key: string, value: V, options: InvalidateOptions = {}): Promise<Result<void, CacheError>> {
    const bad = this.#check(key) ?? this.#checkOptions(options);
    if (bad !== undefined) return err(bad);
    const { core, codec } = this.tier;
    const budget = core.partitions.get(this.workspaceId) ?? core.budgetOf(this.workspaceId);
    const size = core.measure(budget.cap, this.workspaceId, key, value);
    if (typeof size !== "number") return err(size);
    const entry = core.makeEntryNow(value, core.options.ttlMs);
    const stored = encodeStored(codec, value, this.workspaceId);
    if (stored.isErr()) return err(stored.error);
    const p = core.attach(this.workspaceId, budget);
    core.remove(p, key);
    // Fenced before sending, like a load: an invalidation of the key arriving
    // while the write (and its acks) are in flight (another node's set, delete
    // or clear, a bus flush) may be newer than our value, so the value is then
    // not kept here; the next read goes to Redis.
    const fence = p.openWrite(key);
    const sent = await this.#write(key, stored.value, options);
    p.closeWrite(key, fence);
    if (sent.isOk() && !fence.fenced && !p.detached) core.store(p, key, entry, size);
    else core.maybeEmpty(p);
    return sent;
  }

  /** Deletes the key here, in Redis and (through the bus) in every other node's local tier. */
  delete(key: string, options: InvalidateOptions = {}): Promise<Result<void, CacheError>> {
    const bad = this.#check(key) ?? this.#checkOptions(options);
    if (bad !== undefined) return Promise.resolve(err(bad));
    const p = this.tier.core.partitions.get(this.workspaceId);
    if (p !== undefined) this.tier.core.remove(p, key);
    return this.#invalidate(key, options);
  }

  /** O(1) clear of the whole workspace: one INCR of its generation, published to every node. */
  async clear(options: InvalidateOptions = {}): Promise<Result<void, CacheError>> {
    const bad = this.#checkOptions(options);
    if (bad !== undefined) return err(bad);
    const { core, bus, runner } = this.tier;
    core.clear(this.workspaceId);
    const ackId = this.#ackId(options);
    const text = bus.message("c", this.workspaceId, undefined, ackId);
    const sent = await this.tier.guarded(() => runner.runScript(clearScript, [this.#genKey], [bus.options.channel, text]));
    if (sent.isErr()) return err(sent.error);
    return this.#acked(ackId, text);
  }

  /** Not an async function: the script is sent synchronously and the result reaches the caller with the fewest promise hops. */
  #write(key: string, stored: string, options: InvalidateOptions): Promise<Result<void, CacheError>> {
    const { bus, runner } = this.tier;
    const ackId = this.#ackId(options);
    const text = bus.message("d", this.workspaceId, key, ackId);
    const sent = this.tier.guarded(() =>
      runner.runScript(
        writeScript,
        [this.#genKey, this.#versionKey(key)],
        [this.#entryPrefix, `:${key.length}:${key}`, stored, this.tier.redisTtlMs, this.tier.versionTtlMs, bus.options.channel, text],
      ),
    );
    return sent.then((result) => (result.isErr() ? err(result.error) : ackId === undefined ? OK_VOID : this.#acked(ackId, text)));
  }

  /** A delete: one small script (see deleteScript); not an async function, like #write. */
  #invalidate(key: string, options: InvalidateOptions): Promise<Result<void, CacheError>> {
    const { bus, runner } = this.tier;
    const ackId = this.#ackId(options);
    const text = bus.message("d", this.workspaceId, key, ackId);
    const sent = this.tier.guarded(() =>
      runner.runScript(deleteScript, [this.#versionKey(key)], [this.tier.versionTtlMs, bus.options.channel, text]),
    );
    return sent.then((result) => (result.isErr() ? err(result.error) : ackId === undefined ? OK_VOID : this.#acked(ackId, text)));
  }

  /** `acknowledged` must be a boolean when given (null is absent, as everywhere): any other value would be read as true or false by accident. */
  #checkOptions(options: InvalidateOptions | null | undefined): CacheError | undefined {
    const acknowledged: unknown = options?.acknowledged;
    if (acknowledged === undefined || acknowledged === null || typeof acknowledged === "boolean") return undefined;
    return tenancyError("InvalidInput", `acknowledged must be a boolean, got ${describeValue(acknowledged)}`, { workspaceId: this.workspaceId });
  }

  /** `options` may be null (an absent options argument): the cache's default then applies. */
  #ackId(options: InvalidateOptions | null | undefined): string | undefined {
    return (options?.acknowledged ?? this.tier.acknowledged) ? this.tier.bus.newAckId() : undefined;
  }

  async #acked(ackId: string | undefined, text: string): Promise<Result<void, CacheError>> {
    if (ackId === undefined) return ok(undefined);
    const acked = await this.tier.bus.awaitAcks(ackId, text);
    return acked.isErr() ? err({ ...acked.error, workspaceId: this.workspaceId }) : ok(undefined);
  }

  #versionKey(key: string): string {
    return `${this.#versionPrefix}${key.length}:${key}`;
  }

  #fetch(key: string, loader: Loader<V> | undefined): Fetch<V> {
    return async (flight) => {
      const { codec, runner, core } = this.tier;
      const read = await this.tier.guarded(() =>
        runner.runScript(readScript, [this.#genKey, this.#versionKey(key)], [this.#entryPrefix, `:${key.length}:${key}`]),
      );
      if (read.isErr()) {
        // Redis is down: serve from the loader and keep the value locally only.
        if (loader === undefined) return err(read.error);
        return this.#load(key, loader);
      }
      const [generation, version, stored, pttl] = read.value as [string, string, string | null, number];
      if (stored !== null) {
        const decoded = decodeStored(codec, stored, this.workspaceId);
        if (decoded.isErr()) return err(decoded.error);
        const localTtl = core.options.ttlMs > 0 ? Math.min(core.options.ttlMs, pttl) : pttl;
        return ok({ value: decoded.value, ttlMs: localTtl > 0 ? localTtl : 1 });
      }
      if (loader === undefined) return ok({ value: undefined, ttlMs: 0 });
      const loaded = await this.#load(key, loader);
      if (loaded.isErr()) return loaded;
      const value = loaded.value.value;
      const ttl = value === undefined ? core.options.negativeTtlMs : this.tier.redisTtlMs;
      if (!flight.fenced && ttl > 0) {
        // Measured before the fill, as the local tier will measure it: a value refused here
        // (InvalidSize, EntryTooLarge) must not reach Redis for other nodes to read either.
        const size = core.measure(core.capOf(this.workspaceId), this.workspaceId, key, value);
        if (typeof size !== "number") return err(size);
        const encoded = encodeStored(codec, value, this.workspaceId);
        if (encoded.isErr()) return err(encoded.error);
        // A failed or fenced fill is not an error for the caller: the value is still correct to return.
        const filled = await this.tier.guarded(() =>
          runner.runScript(
            fillScript,
            [this.#genKey, this.#versionKey(key)],
            [this.#entryPrefix, `:${key.length}:${key}`, generation, version, encoded.value, Math.ceil(ttl)],
          ),
        );
        // 0: Redis refused it (the key or workspace was invalidated since our read, and the
        // message may not have reached us yet): fenced, so not kept locally either. A failed
        // call (Redis down) keeps it locally only, as when the read failed.
        if (filled.isOk() && Number(filled.value) === 0) flight.fenced = true;
      }
      return ok({ value });
    };
  }

  async #load(key: string, loader: Loader<V>): Promise<Result<{ value: V | undefined }, CacheError>> {
    try {
      return ok({ value: await loader(key, { workspaceId: this.workspaceId, key }) });
    } catch (thrown) {
      return err(loaderFailed(`loader for key ${JSON.stringify(key)} failed: ${describeThrown(thrown)}`, this.workspaceId, thrown));
    }
  }

  #check(key: unknown): CacheError | undefined {
    if (typeof key !== "string") return invalidKey(key, "keys must be strings", this.workspaceId);
    // A lone surrogate has no UTF-8 form: ioredis sends U+FFFD instead, so two such keys would be one Redis key.
    if (!isWellFormed(key)) return invalidKey(key, "holds a lone surrogate, which has no UTF-8 form for a Redis key", this.workspaceId);
    return this.tier.core.checkKey(key, this.workspaceId);
  }
}

