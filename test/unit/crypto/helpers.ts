import { randomUUID } from "node:crypto";
import { ok, type Result } from "neverthrow";
import { ManualClock } from "../../../src/core/clock.js";
import {
  localKeyWrapper,
  memoryKeyStore,
  TenantCipher,
  type KeyStore,
  type KeyWrapper,
  type RootKey,
  type TenantCipherOptions,
} from "../../../src/crypto/index.js";

export const ROOT_A: RootKey = { id: "root-a", key: new Uint8Array(32).fill(0xa1) };
export const ROOT_B: RootKey = { id: "root-b", key: new Uint8Array(32).fill(0xb2) };

export const newWorkspace = (): string => randomUUID();

/** A wrapper that counts unwraps (to prove the hot path never unwraps). */
export function countingWrapper(inner: KeyWrapper): KeyWrapper & { unwraps: number; wraps: number } {
  const counting = {
    unwraps: 0,
    wraps: 0,
    primaryRootKeyId: inner.primaryRootKeyId,
    wrap: (input: Parameters<KeyWrapper["wrap"]>[0]) => {
      counting.wraps++;
      return inner.wrap(input);
    },
    unwrap: (input: Parameters<KeyWrapper["unwrap"]>[0]) => {
      counting.unwraps++;
      return inner.unwrap(input);
    },
  };
  return counting;
}

export function makeCipher(options: Partial<TenantCipherOptions> & { store?: KeyStore } = {}) {
  const clock = new ManualClock();
  const store = options.store ?? memoryKeyStore();
  const wrapper = countingWrapper(options.keyWrapper ?? localKeyWrapper([ROOT_A]));
  const cipher = new TenantCipher({ clock, ...options, store, keyWrapper: wrapper });
  return { cipher, clock, store, wrapper };
}

export function okValue<T>(r: Result<T, unknown>): T {
  if (r.isErr()) throw new Error(`expected Ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

export { ok };
