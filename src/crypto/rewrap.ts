import { err, ok, type Result } from "neverthrow";
import type { CryptoError } from "./errors.js";
import type { Keyring } from "./keys/keyring.js";

export interface RewrapStats {
  readonly scanned: number;
  readonly rewrapped: number;
  readonly alreadyCurrent: number;
  readonly destroyed: number;
  /** Records changed by someone else between read and write (counted, not retried). */
  readonly raced: number;
}

/**
 * Re-wraps every data key under the wrapper's primary root key (after a new
 * root key was put first in TENANCY_ROOT_KEYS), page by page. Data is not
 * touched: the data keys stay the same, only their wrapping changes. Safe to
 * re-run and to run beside live traffic (compare-and-set per record). When it
 * reports 0 remaining, the old root key can be removed.
 */
export async function rewrapAll(
  keyring: Keyring,
  options: { readonly batchSize?: number; readonly onProgress?: (stats: RewrapStats) => void; readonly now: () => number },
): Promise<Result<RewrapStats, CryptoError>> {
  const limit = options.batchSize ?? 500;
  const target = keyring.wrapper.primaryRootKeyId;
  const stats = { scanned: 0, rewrapped: 0, alreadyCurrent: 0, destroyed: 0, raced: 0 };
  let after: { workspaceId: string; version: number } | undefined;
  for (;;) {
    const page = await keyring.store.list(after === undefined ? { limit } : { after, limit });
    if (page.isErr()) return err(page.error);
    for (const record of page.value) {
      stats.scanned++;
      if (record.state === "destroyed" || record.wrappedKey === null) {
        stats.destroyed++;
        continue;
      }
      if (record.rootKeyId === target) {
        stats.alreadyCurrent++;
        continue;
      }
      const context = { workspaceId: record.workspaceId, version: record.version };
      const key = await keyring.wrapper.unwrap({ rootKeyId: record.rootKeyId, wrapped: record.wrappedKey, context });
      if (key.isErr()) return err(key.error);
      const wrapped = await keyring.wrapper.wrap({ key: key.value, context });
      key.value.fill(0);
      if (wrapped.isErr()) return err(wrapped.error);
      const replaced = await keyring.store.replaceWrapped({
        ...context,
        expectedRootKeyId: record.rootKeyId,
        rootKeyId: wrapped.value.rootKeyId,
        wrappedKey: wrapped.value.wrapped,
        at: options.now(),
      });
      if (replaced.isErr()) return err(replaced.error);
      if (replaced.value) stats.rewrapped++;
      else stats.raced++;
    }
    options.onProgress?.({ ...stats });
    const last = page.value[page.value.length - 1];
    if (last === undefined || page.value.length < limit) break;
    after = { workspaceId: last.workspaceId, version: last.version };
  }
  return ok(stats);
}
