import { err, ok, type Result } from "neverthrow";
import { tenancyError } from "../core/errors.js";
import type { CryptoError } from "./errors.js";
import { parseEnvelope, TEXT_PREFIX, fromText, toText } from "./format.js";
import { asLegacySecret, decryptLegacySecret } from "./legacy.js";
import type { TenantCipher } from "./tenant-cipher.js";
import { SUITE_IDS } from "./suites/suite.js";
import { isRowSource, notAnObject } from "./field-cipher.js";

/** A row to bring to the current key version: where it lives and its stored value. */
export interface ReencryptRow {
  readonly workspaceId: string;
  readonly purpose: string;
  /** A binary envelope, a `tc1.` string, a legacy `{iv,encryptedData,authTag}` (object or JSON), plaintext, or null. */
  readonly value: Uint8Array | string | LegacyValue | null;
}
type LegacyValue = { readonly iv: string; readonly encryptedData: string; readonly authTag: string };

export interface ReencryptStats {
  readonly scanned: number;
  readonly reencrypted: number;
  readonly upToDate: number;
  readonly fromLegacy: number;
  readonly fromPlaintext: number;
  readonly skippedNull: number;
  readonly failed: number;
  /** The first 20 failures with the row index and error (other failures are only counted). */
  readonly failures: readonly { readonly index: number; readonly error: CryptoError }[];
}

export interface ReencryptOptions<R extends ReencryptRow> {
  readonly rows: AsyncIterable<R> | Iterable<R>;
  /** Persists one batch of new values (e.g. one UPDATE … FROM (VALUES …)); a rejection stops the run. */
  readonly write: (updates: readonly { readonly row: R; readonly value: Uint8Array | string }[]) => Promise<void> | void;
  /** Dittofeed's SECRET_KEY (32 bytes), to migrate legacy `secrets.ts` values. */
  readonly legacyKey?: Uint8Array;
  /** What to do with a string that is neither an envelope nor legacy: encrypt it in place, or count a failure. @default "fail" */
  readonly plaintext?: "encrypt" | "fail";
  /** @default 500 */
  readonly batchSize?: number;
  /** Called after every written batch and at the end. */
  readonly onProgress?: (stats: ReencryptStats) => void;
}

/**
 * Streams rows through decrypt-old/encrypt-new: envelopes under an older key
 * version (or another suite) are re-encrypted under the workspace's primary
 * version, legacy Dittofeed values and (optionally) plaintext are encrypted,
 * current envelopes are left alone. Binary stays binary; everything else
 * becomes the `tc1.` text form. Per-row failures are counted, not fatal, so one
 * shredded workspace does not stop a fleet-wide rotation; rerunning is safe.
 */
export async function reencryptRows<R extends ReencryptRow>(
  cipher: TenantCipher,
  options: ReencryptOptions<R>,
): Promise<Result<ReencryptStats, CryptoError>> {
  const shape = notAnObject(options, "reencrypt");
  if (shape !== undefined) return err(shape);
  if (!isRowSource(options.rows) || typeof options.write !== "function") {
    return err(tenancyError("InvalidInput", "reencrypt needs rows (an iterable or async iterable) and a write function"));
  }
  const batchSize = options.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) return err(tenancyError("InvalidInput", "batchSize must be a positive integer"));
  const suite = SUITE_IDS[cipher.suite];
  const stats = { scanned: 0, reencrypted: 0, upToDate: 0, fromLegacy: 0, fromPlaintext: 0, skippedNull: 0, failed: 0 };
  const failures: { index: number; error: CryptoError }[] = [];
  let batch: { row: R; value: Uint8Array | string }[] = [];
  const snapshot = (): ReencryptStats => ({ ...stats, failures: [...failures] });
  const flush = async (): Promise<Result<void, CryptoError>> => {
    if (batch.length === 0) return ok(undefined);
    const pending = batch;
    batch = [];
    try {
      await options.write(pending);
    } catch (thrown) {
      return err(tenancyError("StoreFailed", "reencrypt: write failed", { cause: thrown, retryable: true }));
    }
    options.onProgress?.(snapshot());
    return ok(undefined);
  };
  let index = 0;
  /** Counts one row's outcome and queues its new value; true when the batch is full. */
  const record = (row: R, outcome: Result<{ kind: Kind; value?: Uint8Array | string }, CryptoError>): boolean => {
    const at = index++;
    stats.scanned++;
    if (outcome.isErr()) {
      stats.failed++;
      if (failures.length < 20) failures.push({ index: at, error: outcome.error });
      return false;
    }
    stats[outcome.value.kind]++;
    if (outcome.value.value === undefined) return false;
    batch.push({ row, value: outcome.value.value });
    return batch.length >= batchSize;
  };
  const rows = iterate(options.rows);
  for (;;) {
    let next: IteratorResult<R[]>;
    try {
      next = await rows.next();
    } catch (thrown) {
      // A failing cursor or stream is a store problem, reported, not thrown.
      return err(tenancyError("StoreFailed", "reencrypt: reading rows failed", { cause: thrown, retryable: true }));
    }
    if (next.done === true) break;
    for (const row of next.value) {
      const isRow = typeof row === "object" && row !== null;
      // Warm rows stay synchronous; only cold or special rows await.
      const outcome = isRow
        ? (reencryptWarm(cipher, row, suite) ?? (await reencryptOne(cipher, row, suite, options)))
        : err(tenancyError("InvalidInput", "row must be an object { workspaceId, purpose, value }"));
      if (record(row, outcome)) {
        const flushed = await flush();
        if (flushed.isErr()) return err(flushed.error);
      }
    }
  }
  const flushed = await flush();
  if (flushed.isErr()) return err(flushed.error);
  const final = snapshot();
  options.onProgress?.(final);
  return ok(final);
}

/**
 * Arrays (a fetched batch) are walked synchronously, so a warm row costs no
 * microtask hop; async iterables (cursors, streams) are awaited in chunks.
 */
async function* iterate<R>(rows: AsyncIterable<R> | Iterable<R>): AsyncGenerator<R[]> {
  if (Symbol.iterator in rows) {
    yield Array.isArray(rows) ? (rows as R[]) : [...rows];
    return;
  }
  for await (const row of rows) yield [row];
}

/**
 * The synchronous path for the common row: an envelope whose keys are in the
 * cache. Undefined sends the row to the general async path.
 */
function reencryptWarm(cipher: TenantCipher, row: ReencryptRow, suite: number): Result<{ kind: Kind; value?: Uint8Array | string }, CryptoError> | undefined {
  const { value } = row;
  const isText = typeof value === "string" && value.startsWith(TEXT_PREFIX);
  if (!(value instanceof Uint8Array) && !isText) return undefined;
  const field = cipher.field(row);
  if (field.isErr()) return undefined;
  const bytes = value instanceof Uint8Array ? value : fromText(value as string).unwrapOr(undefined);
  if (bytes === undefined) return undefined;
  const envelope = parseEnvelope(bytes);
  if (envelope.isErr()) return undefined;
  const primary = cipher.keyring.peekPrimary(field.value.workspaceId);
  if (primary === undefined || "type" in primary) return undefined;
  if (envelope.value.keyVersion === primary.version && envelope.value.suite === suite) return ok({ kind: "upToDate" });
  const opened = cipher.decryptWarm(field.value, envelope.value);
  if (opened === undefined || opened.isErr()) return undefined;
  const sealed = cipher.encryptWarm(field.value, opened.value);
  opened.value.fill(0);
  if (sealed === undefined || sealed.isErr()) return undefined;
  return ok({ kind: "reencrypted", value: isText ? toText(sealed.value) : sealed.value });
}

type Kind = "reencrypted" | "upToDate" | "fromLegacy" | "fromPlaintext" | "skippedNull";

async function reencryptOne<R extends ReencryptRow>(
  cipher: TenantCipher,
  row: R,
  suite: number,
  options: ReencryptOptions<R>,
): Promise<Result<{ kind: Kind; value?: Uint8Array | string }, CryptoError>> {
  const { value } = row;
  const ref = { workspaceId: row.workspaceId, purpose: row.purpose };
  if (value === null) return ok({ kind: "skippedNull" });
  const isText = typeof value === "string" && value.startsWith(TEXT_PREFIX);
  if (value instanceof Uint8Array || isText) {
    const bytes = value instanceof Uint8Array ? ok(value) : fromText(value as string);
    if (bytes.isErr()) return err(bytes.error);
    const envelope = parseEnvelope(bytes.value);
    if (envelope.isErr()) return err(envelope.error);
    const field = cipher.field(ref);
    if (field.isErr()) return err(field.error);
    const primary = await cipher.keyring.primary(field.value.workspaceId);
    if (primary.isErr()) return err(primary.error);
    if (envelope.value.keyVersion === primary.value.version && envelope.value.suite === suite) return ok({ kind: "upToDate" });
    const opened = await cipher.decrypt({ ...ref, ciphertext: bytes.value });
    if (opened.isErr()) return err(opened.error);
    const sealed = await cipher.encrypt({ ...ref, plaintext: opened.value });
    opened.value.fill(0);
    if (sealed.isErr()) return err(sealed.error);
    return ok({ kind: "reencrypted", value: isText ? toText(sealed.value) : sealed.value });
  }
  const legacy = asLegacySecret(value);
  if (legacy !== undefined) {
    if (options.legacyKey === undefined) return err(tenancyError("LegacyFormat", "legacy value found but no legacyKey was given"));
    const plaintext = decryptLegacySecret(options.legacyKey, legacy);
    if (plaintext.isErr()) return err(plaintext.error);
    const sealed = await cipher.encryptText({ ...ref, plaintext: plaintext.value });
    return sealed.isErr() ? err(sealed.error) : ok({ kind: "fromLegacy", value: sealed.value });
  }
  if (typeof value === "string") {
    if (options.plaintext !== "encrypt") {
      return err(tenancyError("MalformedCiphertext", "value is not encrypted (pass plaintext: \"encrypt\" to encrypt it in place)"));
    }
    const sealed = await cipher.encryptText({ ...ref, plaintext: value });
    return sealed.isErr() ? err(sealed.error) : ok({ kind: "fromPlaintext", value: sealed.value });
  }
  return err(tenancyError("InvalidInput", "row value must be bytes, a string, a legacy secret object or null"));
}
