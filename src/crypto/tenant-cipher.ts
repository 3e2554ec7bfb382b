import { err, ok, type Result } from "neverthrow";
import { systemClock, type Clock } from "../core/clock.js";
import { tenancyError } from "../core/errors.js";
import { noopMetricsSink, type TenantMetricsSink } from "../core/metrics-sink.js";
import { isStorableText } from "../core/text.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { keyDestroyed, malformed, type CryptoError } from "./errors.js";
import { FieldCore, describe, notAnObject, plaintextBytes } from "./field-cipher.js";
import { fromText, OVERHEAD_BYTES, parseEnvelope, PURPOSE_PATTERN, TEXT_PREFIX, toText, type Envelope } from "./format.js";
import type { KeyStore, KeyTombstone } from "./keys/key-store.js";
import { Keyring } from "./keys/keyring.js";
import { resolveOptions, type TenantCipherOptions } from "./options.js";
import { memoryKeyStore } from "./keys/memory-store.js";
import { injectedNonces, systemNonces, type NonceSource } from "./nonce-source.js";
import { BlindIndexer, type BlindIndexInput } from "./blind-index.js";
import { keyVersionsInUse, type InventoryRow, type KeyVersionInventory } from "./inventory.js";
import { reencryptRows, type ReencryptOptions, type ReencryptRow, type ReencryptStats } from "./reencrypt.js";
import { rewrapAll, type RewrapStats } from "./rewrap.js";
import { codecFor, type Implementation, type SuiteCodec, type SuiteName } from "./suites/suite.js";

export type { TenantCipherOptions } from "./options.js";

/** Where a field is: the workspace and the purpose the value is bound to. */
export interface FieldRef {
  readonly workspaceId: string;
  readonly purpose: string;
}

const FIELD_CACHE_LIMIT = 50_000;

/**
 * Per-workspace envelope encryption. Each workspace gets random 256-bit data
 * keys (versioned, wrapped under a root key), and every value is bound to its
 * workspace and purpose as associated data.
 *
 * @example
 * const cipher = new TenantCipher({ rootKeys: process.env.TENANCY_ROOT_KEYS });
 * const sealed = await cipher.encryptText({ workspaceId, purpose: "secret:sendgrid", plaintext: apiKey });
 * if (sealed.isErr()) return err(sealed.error);
 */
export class TenantCipher {
  readonly keyring: Keyring;
  readonly #codec: SuiteCodec;
  readonly #implementation: Implementation;
  readonly #nonces: NonceSource;
  readonly #limits: { readonly maxBytes: number; readonly allowEmpty: boolean };
  readonly #clock: Clock;
  readonly #metrics: TenantMetricsSink;
  readonly #fields = new Map<string, Map<string, FieldCore>>();
  #fieldCount = 0;
  readonly #indexer: BlindIndexer = new BlindIndexer(this);

  constructor(options: TenantCipherOptions) {
    const { wrapper, codec, implementation, maxBytes } = resolveOptions(options);
    this.#codec = codec;
    this.#implementation = implementation;
    this.#nonces = options.random === undefined ? systemNonces() : injectedNonces(options.random);
    this.#limits = { maxBytes, allowEmpty: options.allowEmpty ?? false };
    this.#clock = options.clock ?? systemClock;
    this.#metrics = options.metrics ?? noopMetricsSink;
    this.keyring = new Keyring({
      store: options.store ?? memoryKeyStore(),
      wrapper,
      clock: this.#clock,
      metrics: this.#metrics,
      cache: options.cache ?? {},
    });
  }

  /**
   * Resolves (and caches) the bound core for a workspace and purpose: the
   * workspace id is parsed, the purpose checked, and the associated data built
   * once, so the hot path builds no strings.
   */
  field(ref: FieldRef): Result<FieldCore, CryptoError> {
    const shape = notAnObject(ref, "TenantCipher");
    if (shape !== undefined) return err(shape);
    const byPurpose = this.#fields.get(ref.workspaceId);
    const known = byPurpose?.get(ref.purpose);
    if (known !== undefined) return ok(known);
    const workspaceId = parseWorkspaceId(ref.workspaceId);
    if (workspaceId.isErr()) return err(workspaceId.error);
    if (typeof ref.purpose !== "string" || !PURPOSE_PATTERN.test(ref.purpose)) {
      return err(
        tenancyError("InvalidInput", `purpose must be 1-128 characters of A-Z a-z 0-9 . _ : / @ -, got ${typeof ref.purpose === "string" ? JSON.stringify(ref.purpose.slice(0, 40)) : describe(ref.purpose)}`, {
          workspaceId: workspaceId.value,
        }),
      );
    }
    const core = new FieldCore(workspaceId.value, ref.purpose);
    // Keyed by the caller's spelling too, so an upper-case id is parsed only once.
    if (this.#fieldCount >= FIELD_CACHE_LIMIT) {
      this.#fields.clear();
      this.#fieldCount = 0;
    }
    let map = byPurpose;
    if (map === undefined) {
      map = new Map();
      this.#fields.set(ref.workspaceId, map);
    }
    map.set(ref.purpose, core);
    this.#fieldCount++;
    return ok(core);
  }

  /** Encrypts bytes (or a string, as UTF-8) for a workspace and purpose; returns the binary envelope. */
  async encrypt(input: FieldRef & { readonly plaintext: Uint8Array | string }): Promise<Result<Uint8Array, CryptoError>> {
    const field = this.field(input);
    if (field.isErr()) return err(field.error);
    const core = field.value;
    const plaintext = plaintextBytes(input.plaintext, this.#limits, core.workspaceId);
    if (plaintext.isErr()) return err(plaintext.error);
    const peeked = this.keyring.peekPrimary(core.workspaceId);
    if (peeked !== undefined) {
      if ("type" in peeked) return err(peeked);
      return ok(core.seal(this.#codec, peeked.version, peeked.key, this.#nonces, plaintext.value));
    }
    const key = await this.keyring.primary(core.workspaceId);
    if (key.isErr()) return err(key.error);
    return ok(core.seal(this.#codec, key.value.version, key.value.key, this.#nonces, plaintext.value));
  }

  /** Decrypts a binary envelope or its `tc1.` text form. Every failure is a typed Err without plaintext. */
  async decrypt(input: FieldRef & { readonly ciphertext: Uint8Array | string }): Promise<Result<Uint8Array, CryptoError>> {
    const field = this.field(input);
    if (field.isErr()) return err(field.error);
    const core = field.value;
    const envelope = this.#envelope(input.ciphertext, core.workspaceId);
    if (envelope.isErr()) return err(envelope.error);
    const codec = codecFor(envelope.value.suite, this.#implementation);
    if (codec === undefined) return err(tenancyError("UnsupportedSuite", "unknown cipher suite", { workspaceId: core.workspaceId }));
    const peeked = this.keyring.peekVersion(core.workspaceId, envelope.value.keyVersion);
    if (peeked !== undefined) return "type" in peeked ? err(peeked) : this.#opened(core, codec, peeked, envelope.value);
    const key = await this.keyring.version(core.workspaceId, envelope.value.keyVersion);
    if (key.isErr()) return err(key.error);
    return this.#opened(core, codec, key.value, envelope.value);
  }

  #opened(core: FieldCore, codec: SuiteCodec, key: Parameters<FieldCore["open"]>[1], envelope: Envelope): Result<Uint8Array, CryptoError> {
    const opened = core.open(codec, key, envelope);
    if (opened.isErr()) this.#metrics.add(core.workspaceId, "crypto_auth_failures_total", 1);
    return opened;
  }

  #envelope(ciphertext: unknown, workspaceId: string): Result<Envelope, CryptoError> {
    let bytes: Uint8Array;
    if (ciphertext instanceof Uint8Array) bytes = ciphertext;
    else if (typeof ciphertext === "string") {
      // Refuse before decoding, so a huge string costs nothing.
      if (ciphertext.length > Math.ceil(((this.#limits.maxBytes + OVERHEAD_BYTES) * 4) / 3) + TEXT_PREFIX.length) {
        return err(malformed("text envelope is larger than maxPlaintextBytes allows", workspaceId));
      }
      const decoded = fromText(ciphertext);
      if (decoded.isErr()) return err({ ...decoded.error, workspaceId });
      bytes = decoded.value;
    } else return err(malformed(`ciphertext must be a Uint8Array or a tc1. string, got ${describe(ciphertext)}`, workspaceId));
    if (bytes.length > this.#limits.maxBytes + OVERHEAD_BYTES) return err(malformed(`envelope is larger than maxPlaintextBytes allows`, workspaceId));
    const parsed = parseEnvelope(bytes);
    return parsed.isErr() ? err({ ...parsed.error, workspaceId }) : ok(parsed.value);
  }

  /**
   * Synchronous variants for hot loops: they work only from a warm key cache
   * and return undefined when the key must be loaded first (then use the async
   * call once). `field` comes from `cipher.field(...)`.
   */
  encryptWarm(field: FieldCore, plaintext: Uint8Array): Result<Uint8Array, CryptoError> | undefined {
    const checked = plaintextBytes(plaintext, this.#limits, field.workspaceId);
    if (checked.isErr()) return err(checked.error);
    const peeked = this.keyring.peekPrimary(field.workspaceId);
    if (peeked === undefined) return undefined;
    if ("type" in peeked) return err(peeked);
    return ok(field.seal(this.#codec, peeked.version, peeked.key, this.#nonces, checked.value));
  }

  /** See `encryptWarm`: opens a parsed envelope from a warm cache, or undefined when the key is not loaded. */
  decryptWarm(field: FieldCore, envelope: Envelope): Result<Uint8Array, CryptoError> | undefined {
    const codec = codecFor(envelope.suite, this.#implementation);
    if (codec === undefined) return err(tenancyError("UnsupportedSuite", "unknown cipher suite", { workspaceId: field.workspaceId }));
    const peeked = this.keyring.peekVersion(field.workspaceId, envelope.keyVersion);
    if (peeked === undefined) return undefined;
    return "type" in peeked ? err(peeked) : this.#opened(field, codec, peeked, envelope);
  }

  /** Encrypts a string into the `tc1.` text form, for text columns such as Dittofeed's `Secret.value`. */
  async encryptText(input: FieldRef & { readonly plaintext: string }): Promise<Result<string, CryptoError>> {
    const shape = notAnObject(input, "encryptText");
    if (shape !== undefined) return err(shape);
    if (typeof input.plaintext !== "string") {
      return err(tenancyError("InvalidInput", `plaintext must be a string, got ${describe(input.plaintext)}`));
    }
    const sealed = await this.encrypt(input);
    return sealed.isErr() ? err(sealed.error) : ok(toText(sealed.value));
  }

  /** Decrypts a `tc1.` string to a string; invalid UTF-8 plaintext is an InvalidInput error. */
  async decryptText(input: FieldRef & { readonly ciphertext: string }): Promise<Result<string, CryptoError>> {
    const shape = notAnObject(input, "decryptText");
    if (shape !== undefined) return err(shape);
    if (typeof input.ciphertext !== "string") {
      return err(malformed(`ciphertext must be a tc1. string, got ${describe(input.ciphertext)}`));
    }
    const opened = await this.decrypt(input);
    if (opened.isErr()) return err(opened.error);
    try {
      return ok(UTF8.decode(opened.value));
    } catch {
      return err(tenancyError("InvalidInput", "plaintext is not valid UTF-8 (use decrypt for bytes)", { workspaceId: input.workspaceId }));
    }
  }

  /** Adds a new primary data key version; older versions stay for decryption only. */
  async rotate(input: { readonly workspaceId: string }): Promise<Result<{ readonly version: number }, CryptoError>> {
    const shape = notAnObject(input, "rotate");
    if (shape !== undefined) return err(shape);
    const workspaceId = parseWorkspaceId(input.workspaceId);
    if (workspaceId.isErr()) return err(workspaceId.error);
    const loaded = await this.keyring.load(workspaceId.value, true);
    if (loaded.isErr()) return err(loaded.error);
    const next = Math.max(0, ...loaded.value.records.map((r) => r.version)) + 1;
    const added = await this.keyring.addVersion(workspaceId.value, next);
    if (added.isErr()) return err(added.error);
    if (added.value === "exists") {
      return err(tenancyError("StoreFailed", `version ${next} was created concurrently; retry the rotation`, { retryable: true, workspaceId: workspaceId.value }));
    }
    return ok({ version: next });
  }

  /**
   * Crypto-shreds a workspace: every data key version is wiped from the store
   * and a tombstone records when and by whom. Decryption fails with
   * KeyDestroyed at once in this process, and in others when their cache
   * entry expires (at most `cache.maxAgeMs`).
   */
  async destroy(input: { readonly workspaceId: string; readonly by: string }): Promise<Result<KeyTombstone, CryptoError>> {
    const shape = notAnObject(input, "destroy");
    if (shape !== undefined) return err(shape);
    const workspaceId = parseWorkspaceId(input.workspaceId);
    if (workspaceId.isErr()) return err(workspaceId.error);
    if (!isStorableText(input.by) || input.by.length === 0 || input.by.length > 200) {
      return err(
        tenancyError("InvalidInput", "destroy needs `by` (who asked), 1-200 characters, without U+0000 or lone surrogates", { workspaceId: workspaceId.value }),
      );
    }
    const tombstone = await this.keyring.store.destroy({ workspaceId: workspaceId.value, by: input.by, at: this.#clock.now() });
    if (tombstone.isErr()) return err(tombstone.error);
    this.keyring.markDestroyed(tombstone.value);
    return ok(tombstone.value);
  }

  /** Blind index of `value` for equality lookups (see BlindIndexer). */
  blindIndex(input: BlindIndexInput): Promise<Result<string, CryptoError>> {
    return this.#indexer.index(input);
  }

  /** Re-wraps every stored data key under the primary root key; data is untouched. */
  rewrapAll(options: { readonly batchSize?: number; readonly onProgress?: (stats: RewrapStats) => void } = {}): Promise<Result<RewrapStats, CryptoError>> {
    return rewrapAll(this.keyring, { ...options, now: () => this.#clock.now() });
  }

  /** Streams rows to the current key version (and migrates legacy and plaintext values). */
  reencrypt<R extends ReencryptRow>(options: ReencryptOptions<R>): Promise<Result<ReencryptStats, CryptoError>> {
    return reencryptRows(this, options);
  }

  /** Counts rows per key version and which are stale, from headers only. */
  keyVersionsInUse<R extends InventoryRow>(input: {
    readonly rows: AsyncIterable<R> | Iterable<R>;
    readonly onStale?: (row: R) => void;
  }): Promise<Result<KeyVersionInventory, CryptoError>> {
    return keyVersionsInUse(this, input);
  }

  /** The error a destroyed workspace returns, for callers that check before a batch. */
  static destroyedError(tombstone: KeyTombstone): CryptoError {
    return keyDestroyed(tombstone.workspaceId, tombstone.destroyedAt, tombstone.destroyedBy);
  }

  get implementation(): Implementation {
    return this.#implementation;
  }

  get suite(): SuiteName {
    return this.#codec.name;
  }

  get clock(): Clock {
    return this.#clock;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });
