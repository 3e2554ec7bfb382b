import { err, ok, type Result } from "neverthrow";
import type { CryptoError } from "./errors.js";
import { fromText, parseEnvelope, TEXT_PREFIX } from "./format.js";
import { asLegacySecret } from "./legacy.js";
import { SUITE_IDS } from "./suites/suite.js";
import type { TenantCipher } from "./tenant-cipher.js";
import { tenancyError } from "../core/errors.js";
import { isRowSource, notAnObject } from "./field-cipher.js";

export interface InventoryRow {
  readonly workspaceId: string;
  readonly value: Uint8Array | string | object | null;
}

export interface KeyVersionInventory {
  readonly rows: number;
  /** Envelopes per key version, e.g. `{ "1": 812, "2": 40 }`. */
  readonly byVersion: Readonly<Record<string, number>>;
  /** Envelopes on their workspace's primary version. */
  readonly current: number;
  /** Envelopes on an older version: what `reencrypt` still has to do. */
  readonly stale: number;
  readonly legacy: number;
  readonly plaintext: number;
  readonly malformed: number;
  readonly nulls: number;
  /** Rows of workspaces that were crypto-shredded (unreadable for good). */
  readonly destroyed: number;
}

/**
 * Tells which rows still use old key versions, by reading envelope headers
 * only (nothing is decrypted). The primary version of each workspace is read
 * once from the key cache. `onStale` sees each row that `reencrypt` would change.
 */
export async function keyVersionsInUse<R extends InventoryRow>(
  cipher: TenantCipher,
  input: { readonly rows: AsyncIterable<R> | Iterable<R>; readonly onStale?: (row: R) => void },
): Promise<Result<KeyVersionInventory, CryptoError>> {
  const shape = notAnObject(input, "keyVersionsInUse");
  if (shape !== undefined) return err(shape);
  if (!isRowSource(input.rows)) return err(tenancyError("InvalidInput", "keyVersionsInUse needs rows (an iterable or async iterable)"));
  try {
    return await count(cipher, input);
  } catch (thrown) {
    return err(tenancyError("StoreFailed", "keyVersionsInUse: reading rows failed", { cause: thrown, retryable: true }));
  }
}

async function count<R extends InventoryRow>(
  cipher: TenantCipher,
  input: { readonly rows: AsyncIterable<R> | Iterable<R>; readonly onStale?: (row: R) => void },
): Promise<Result<KeyVersionInventory, CryptoError>> {
  const byVersion: Record<string, number> = {};
  const counts = { rows: 0, current: 0, stale: 0, legacy: 0, plaintext: 0, malformed: 0, nulls: 0, destroyed: 0 };
  const primaries = new Map<string, number | "destroyed">();
  const suite = SUITE_IDS[cipher.suite];
  for await (const row of input.rows) {
    counts.rows++;
    if (typeof row !== "object" || row === null) {
      counts.malformed++;
      continue;
    }
    const { value } = row;
    if (value === null) {
      counts.nulls++;
      continue;
    }
    let bytes: Uint8Array | undefined;
    if (value instanceof Uint8Array) bytes = value;
    else if (typeof value === "string" && value.startsWith(TEXT_PREFIX)) {
      const decoded = fromText(value);
      if (decoded.isOk()) bytes = decoded.value;
    }
    if (bytes === undefined) {
      if (asLegacySecret(value) !== undefined) {
        counts.legacy++;
        input.onStale?.(row);
      } else if (typeof value === "string" && !value.startsWith(TEXT_PREFIX)) {
        counts.plaintext++;
        input.onStale?.(row);
      } else counts.malformed++;
      continue;
    }
    const envelope = parseEnvelope(bytes);
    if (envelope.isErr()) {
      counts.malformed++;
      continue;
    }
    const version = envelope.value.keyVersion;
    byVersion[version] = (byVersion[version] ?? 0) + 1;
    let primary = primaries.get(row.workspaceId);
    if (primary === undefined) {
      const field = cipher.field({ workspaceId: row.workspaceId, purpose: "inventory" });
      if (field.isErr()) return err(field.error);
      const loaded = await cipher.keyring.load(field.value.workspaceId);
      if (loaded.isErr() && loaded.error.type !== "KeyDestroyed") return err(loaded.error);
      primary = loaded.isErr() ? "destroyed" : (loaded.value.primary ?? 0);
      primaries.set(row.workspaceId, primary);
    }
    if (primary === "destroyed") counts.destroyed++;
    // As reencrypt decides: current means the primary version under the configured suite.
    else if (version === primary && envelope.value.suite === suite) counts.current++;
    else {
      counts.stale++;
      input.onStale?.(row);
    }
  }
  return ok({ ...counts, byVersion });
}
