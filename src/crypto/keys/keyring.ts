import { err, ok, type Result } from "neverthrow";
import { randomBytes } from "node:crypto";
import type { Clock } from "../../core/clock.js";
import { storeFailed } from "../../core/errors.js";
import type { TenantMetricsSink } from "../../core/metrics-sink.js";
import type { WorkspaceId } from "../../core/workspace-id.js";
import { keyDestroyed, type CryptoError, type KeyDestroyedError } from "../errors.js";
import { tenancyError } from "../../core/errors.js";
import { prepareKey, type PreparedKey } from "../suites/suite.js";
import type { DataKeyRecord, KeyStore, KeyTombstone } from "./key-store.js";
import type { KeyWrapper } from "./key-wrapper.js";

/** Data-key cache limits: an entry is reloaded (store read + unwrap) when it is older than maxAgeMs or has served maxUses operations. */
export interface KeyCacheOptions {
  /** @default 60_000. Also the bound on how long another process may keep decrypting after a destroy. */
  readonly maxAgeMs?: number;
  /** Encrypt+decrypt operations per cache fill. @default 1_000_000 */
  readonly maxUses?: number;
  /** Workspaces kept unwrapped at once; the least recently loaded is dropped first. @default 10_000 */
  readonly maxEntries?: number;
  /**
   * Minimum time between reloads triggered by a ciphertext naming a key
   * version newer than any cached one (a rotation in another process).
   * @default 1_000 (capped at maxAgeMs)
   */
  readonly unknownVersionReloadMs?: number;
}

/** A usable data key: its version and the prepared key material. */
export interface ActiveKey {
  readonly version: number;
  readonly key: PreparedKey;
}

interface Entry {
  readonly loadedAt: number;
  uses: number;
  readonly primary: number | undefined;
  readonly keys: ReadonlyMap<number, PreparedKey>;
  readonly records: readonly DataKeyRecord[];
  readonly tombstone: KeyTombstone | undefined;
}

/**
 * Per-workspace data keys: created on first use, unwrapped through the
 * KeyWrapper once per cache fill, and served synchronously from the cache on
 * the hot path (`peekPrimary` / `peekVersion`), so steady-state encryption
 * never touches the store or the root key.
 */
export class Keyring {
  readonly #store: KeyStore;
  readonly #wrapper: KeyWrapper;
  readonly #clock: Clock;
  readonly #metrics: TenantMetricsSink;
  readonly #maxAgeMs: number;
  readonly #maxUses: number;
  readonly #maxEntries: number;
  readonly #reloadIntervalMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Result<Entry, CryptoError>>>();
  /** Tombstones are final, so they are remembered apart from the bounded cache. */
  readonly #shredded = new Map<string, KeyTombstone>();
  /**
   * Per workspace with a store read in flight, whether its keys changed since
   * that read began (an invalidate, a rotation, a destroy): such a read's
   * result is never cached, or a destroy or rotation that already returned
   * would be undone here until the entry aged out.
   */
  readonly #fills = new Map<string, { changed: boolean }>();

  constructor(deps: { store: KeyStore; wrapper: KeyWrapper; clock: Clock; metrics: TenantMetricsSink; cache: KeyCacheOptions }) {
    this.#store = deps.store;
    this.#wrapper = deps.wrapper;
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#maxAgeMs = deps.cache.maxAgeMs ?? 60_000;
    this.#maxUses = deps.cache.maxUses ?? 1_000_000;
    this.#maxEntries = deps.cache.maxEntries ?? 10_000;
    this.#reloadIntervalMs = Math.min(deps.cache.unknownVersionReloadMs ?? 1_000, this.#maxAgeMs);
  }

  get store(): KeyStore {
    return this.#store;
  }

  get wrapper(): KeyWrapper {
    return this.#wrapper;
  }

  #fresh(workspaceId: string): Entry | undefined {
    const entry = this.#entries.get(workspaceId);
    if (entry === undefined) return undefined;
    if (entry.uses >= this.#maxUses || this.#clock.now() - entry.loadedAt >= this.#maxAgeMs) return undefined;
    return entry;
  }

  /** The primary key from a fresh cache entry, counting one use; undefined when a load is needed. */
  peekPrimary(workspaceId: string): ActiveKey | KeyDestroyedError | undefined {
    const entry = this.#fresh(workspaceId);
    if (entry === undefined) return this.#shreddedError(workspaceId);
    if (entry.tombstone !== undefined) return this.#shreddedError(workspaceId);
    if (entry.primary === undefined) return undefined;
    const key = entry.keys.get(entry.primary);
    if (key === undefined) return undefined;
    entry.uses++;
    return { version: entry.primary, key };
  }

  /** A given version from a fresh cache entry, counting one use; undefined when a load is needed. */
  peekVersion(workspaceId: string, version: number): PreparedKey | KeyDestroyedError | undefined {
    const entry = this.#fresh(workspaceId);
    if (entry === undefined || entry.tombstone !== undefined) return this.#shreddedError(workspaceId);
    const key = entry.keys.get(version);
    if (key !== undefined) entry.uses++;
    return key;
  }

  #shreddedError(workspaceId: string): KeyDestroyedError | undefined {
    const tombstone = this.#shredded.get(workspaceId);
    return tombstone && keyDestroyed(workspaceId, tombstone.destroyedAt, tombstone.destroyedBy);
  }

  /** The primary key, loading (and creating version 1 for a new workspace) as needed. */
  async primary(workspaceId: WorkspaceId): Promise<Result<ActiveKey, CryptoError>> {
    const peeked = this.peekPrimary(workspaceId);
    if (peeked !== undefined) return "type" in peeked ? err(peeked) : ok(peeked);
    let loaded = await this.load(workspaceId);
    if (loaded.isErr()) return err(loaded.error);
    if (loaded.value.primary === undefined) {
      const created = await this.addVersion(workspaceId, 1);
      if (created.isErr()) return err(created.error);
      loaded = await this.load(workspaceId, true);
      if (loaded.isErr()) return err(loaded.error);
    }
    const entry = loaded.value;
    const key = entry.primary === undefined ? undefined : entry.keys.get(entry.primary);
    if (entry.primary === undefined || key === undefined) {
      return err(storeFailed("workspace has no usable primary data key after creating one", { workspaceId }));
    }
    entry.uses++;
    return ok({ version: entry.primary, key });
  }

  /** A given version; reloads once when the version is unknown (another process may have rotated). */
  async version(workspaceId: WorkspaceId, version: number): Promise<Result<PreparedKey, CryptoError>> {
    const peeked = this.peekVersion(workspaceId, version);
    if (peeked !== undefined) return "type" in peeked ? err(peeked) : ok(peeked);
    const cached = this.#fresh(workspaceId);
    let loaded = await this.load(workspaceId);
    if (loaded.isErr()) return err(loaded.error);
    // A version newer than any we hold may come from a rotation in another
    // process: reload, but at most once per reload interval per workspace, so
    // forged headers naming high versions cannot make every request hit the
    // store. Older unknown versions never existed and never reload.
    const highest = (entry: Entry) => Math.max(0, ...entry.records.map((r) => r.version));
    if (cached !== undefined && version > highest(loaded.value) && this.#clock.now() - cached.loadedAt >= this.#reloadIntervalMs) {
      loaded = await this.load(workspaceId, true);
      if (loaded.isErr()) return err(loaded.error);
    }
    const key = loaded.value.keys.get(version);
    if (key === undefined) {
      // Retryable when the version may still appear (a rotation not yet visible here).
      return err(
        tenancyError("KeyNotFound", `workspace has no data key version ${version}`, { workspaceId, retryable: version > highest(loaded.value) }),
      );
    }
    loaded.value.uses++;
    return ok(key);
  }

  /** Loads (or returns the fresh cached) entry; concurrent loads of one workspace share one store read. */
  async load(workspaceId: WorkspaceId, force = false): Promise<Result<Entry, CryptoError>> {
    if (!force) {
      const fresh = this.#fresh(workspaceId);
      if (fresh !== undefined) return fresh.tombstone ? err(this.#shreddedError(workspaceId) ?? keyDestroyed(workspaceId)) : ok(fresh);
    }
    const shredded = this.#shreddedError(workspaceId);
    if (shredded !== undefined) return err(shredded);
    const inFlight = this.#loading.get(workspaceId);
    if (inFlight !== undefined) return inFlight;
    const loading = this.#fill(workspaceId).finally(() => this.#loading.delete(workspaceId));
    this.#loading.set(workspaceId, loading);
    return loading;
  }

  async #fill(workspaceId: WorkspaceId): Promise<Result<Entry, CryptoError>> {
    const fill = { changed: false };
    this.#fills.set(workspaceId, fill);
    try {
      const filled = await this.#read(workspaceId);
      // Shredded while the store was read: the keys read are gone, whatever the read saw.
      const shredded = this.#shreddedError(workspaceId);
      if (shredded !== undefined) return err(shredded);
      if (filled.isErr()) return filled;
      // Changed meanwhile: this caller may use what it read (it raced the change), but the cache may not.
      if (!fill.changed) this.#install(workspaceId, filled.value);
      return filled;
    } finally {
      if (this.#fills.get(workspaceId) === fill) this.#fills.delete(workspaceId);
    }
  }

  /** Reads and unwraps a workspace's keys from the store. */
  async #read(workspaceId: WorkspaceId): Promise<Result<Entry, CryptoError>> {
    const stored = await this.#store.load(workspaceId);
    if (stored.isErr()) return err(stored.error);
    const { keys: records, tombstone } = stored.value;
    if (tombstone !== undefined) {
      this.#shredded.set(workspaceId, tombstone);
      this.#evict(workspaceId);
      return err(keyDestroyed(workspaceId, tombstone.destroyedAt, tombstone.destroyedBy));
    }
    const keys = new Map<number, PreparedKey>();
    let primary: number | undefined;
    for (const record of records) {
      if (record.state === "destroyed" || record.wrappedKey === null) continue;
      const unwrapped = await this.#wrapper.unwrap({
        rootKeyId: record.rootKeyId,
        wrapped: record.wrappedKey,
        context: { workspaceId, version: record.version },
      });
      this.#metrics.add(workspaceId, "crypto_key_unwraps_total", 1);
      if (unwrapped.isErr()) return err(unwrapped.error);
      keys.set(record.version, prepareKey(unwrapped.value));
      if (record.state === "active") primary = record.version;
    }
    return ok({ loadedAt: this.#clock.now(), uses: 0, primary, keys, records, tombstone: undefined });
  }

  #install(workspaceId: string, entry: Entry): void {
    // Re-inserted last: the Map's order is load order, and the first key is the one to drop.
    this.#entries.delete(workspaceId);
    this.#entries.set(workspaceId, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  /**
   * Drops a workspace's cached keys; the next use reloads from the store.
   * The key bytes are not wiped in place: an operation that fetched the key
   * before an await may still be about to use it, and sealing with a zeroed key
   * would silently write unreadable data. The arrays are left to the GC.
   */
  #evict(workspaceId: string): void {
    this.#entries.delete(workspaceId);
    const fill = this.#fills.get(workspaceId);
    if (fill !== undefined) fill.changed = true;
  }

  invalidate(workspaceId: string): void {
    this.#evict(workspaceId);
  }

  /** Creates and stores a fresh random data key as the workspace's active version. */
  async addVersion(workspaceId: WorkspaceId, version: number): Promise<Result<"added" | "exists", CryptoError>> {
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await this.#wrapper.wrap({ key, context: { workspaceId, version } });
    key.fill(0);
    if (wrapped.isErr()) return err(wrapped.error);
    const now = this.#clock.now();
    const added = await this.#store.addVersion({
      workspaceId,
      version,
      wrappedKey: wrapped.value.wrapped,
      rootKeyId: wrapped.value.rootKeyId,
      state: "active",
      createdAt: now,
      updatedAt: now,
    });
    if (added.isErr()) return err(added.error);
    if (added.value === "destroyed") {
      const reloaded = await this.load(workspaceId, true);
      return err(reloaded.isErr() ? reloaded.error : keyDestroyed(workspaceId));
    }
    this.#evict(workspaceId);
    return ok(added.value);
  }

  /** Records a shred done through this process: effective here at once, whatever the cache held. */
  markDestroyed(tombstone: KeyTombstone): void {
    this.#shredded.set(tombstone.workspaceId, tombstone);
    this.#evict(tombstone.workspaceId);
  }
}
