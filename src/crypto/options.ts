import type { Clock } from "../core/clock.js";
import type { TenantMetricsSink } from "../core/metrics-sink.js";
import type { RandomSource } from "../core/random.js";
import type { KeyStore } from "./keys/key-store.js";
import { localKeyWrapper, type KeyWrapper } from "./keys/key-wrapper.js";
import type { KeyCacheOptions } from "./keys/keyring.js";
import { parseRootKeys, type RootKey } from "./keys/root-keys.js";
import { codecFor, SUITE_IDS, type Implementation, type SuiteCodec, type SuiteName } from "./suites/suite.js";

export interface TenantCipherOptions {
  /** Root keys: the TENANCY_ROOT_KEYS string (`id:base64,…`, primary first) or parsed keys. Give this or `keyWrapper`. */
  readonly rootKeys?: string | readonly RootKey[];
  /** A root-key plug-in (e.g. a KMS adapter) instead of local root keys. */
  readonly keyWrapper?: KeyWrapper;
  /** Where wrapped data keys live. @default memoryKeyStore() */
  readonly store?: KeyStore;
  /** Suite for new ciphertexts; every known suite is always decrypted. @default "xchacha20-poly1305" */
  readonly suite?: SuiteName;
  /** Native node:crypto bulk (default) or pure @noble/ciphers; both give identical bytes. */
  readonly implementation?: Implementation;
  /** @default 4 MiB */
  readonly maxPlaintextBytes?: number;
  /** Whether empty plaintexts may be encrypted. @default false */
  readonly allowEmpty?: boolean;
  readonly cache?: KeyCacheOptions;
  readonly clock?: Clock;
  /** Nonce randomness; inject only in tests. */
  readonly random?: RandomSource;
  readonly metrics?: TenantMetricsSink;
}

interface Resolved {
  readonly wrapper: KeyWrapper;
  readonly codec: SuiteCodec;
  readonly implementation: Implementation;
  readonly maxBytes: number;
}

const positive = (value: number | undefined, max: number) => value === undefined || (Number.isSafeInteger(value) && value >= 1 && value <= max);

/**
 * Validates constructor options. Options are code, not runtime input, so
 * problems throw one TypeError listing all of them (the DESIGN convention);
 * environment input goes through `tenantCipherFromEnv`, which returns a Result.
 */
export function resolveOptions(options: TenantCipherOptions): Resolved {
  const problems: string[] = [];
  let wrapper = options.keyWrapper;
  if (wrapper === undefined) {
    if (options.rootKeys === undefined) problems.push("give rootKeys (TENANCY_ROOT_KEYS) or a keyWrapper");
    else if (typeof options.rootKeys === "string") {
      const parsed = parseRootKeys(options.rootKeys);
      if (parsed.isErr()) problems.push(parsed.error.message);
      else wrapper = localKeyWrapper(parsed.value);
    } else if (options.rootKeys.length === 0) problems.push("rootKeys is empty");
    else wrapper = localKeyWrapper(options.rootKeys);
  }
  const suite = options.suite ?? "xchacha20-poly1305";
  if (!(suite in SUITE_IDS)) problems.push(`unknown suite ${JSON.stringify(suite)}`);
  const implementation = options.implementation ?? "node";
  if (implementation !== "node" && implementation !== "noble") problems.push(`unknown implementation ${JSON.stringify(implementation)}`);
  const maxBytes = options.maxPlaintextBytes ?? 4 * 1024 * 1024;
  if (!positive(maxBytes, 2 ** 31)) problems.push("maxPlaintextBytes must be an integer in 1..2^31");
  const cache = options.cache ?? {};
  if (!positive(cache.maxAgeMs, 2 ** 31)) problems.push("cache.maxAgeMs must be a positive integer");
  if (!positive(cache.maxUses, 2 ** 32)) problems.push("cache.maxUses must be an integer in 1..2^32");
  if (!positive(cache.maxEntries, 10_000_000)) problems.push("cache.maxEntries must be a positive integer");
  const reload = cache.unknownVersionReloadMs;
  if (reload !== undefined && !(Number.isSafeInteger(reload) && reload >= 0)) problems.push("cache.unknownVersionReloadMs must be an integer ≥ 0");
  const codec = codecFor(SUITE_IDS[suite], implementation);
  if (problems.length > 0 || wrapper === undefined || codec === undefined) {
    throw new TypeError(`invalid TenantCipher options: ${problems.join("; ")}`);
  }
  return { wrapper, codec, implementation, maxBytes };
}
