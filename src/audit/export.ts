import { createHash } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { describeThrown, tenancyError } from "../core/errors.js";
import type { SqlError } from "../core/postgres/result.js";
import type { ExportWriteFailedError } from "./errors.js";
import { CSV_HEADER, renderRecord } from "./export-format.js";
import type { Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import type { AuditStore, ReadCursor } from "./store.js";

/**
 * What ships with an export so a third party can check it (`verifyExport`,
 * docs/audit.md "Checking an export"): the seq range, the hash before the
 * first entry and of the last, the SHA-256 of the exported bytes, the stored
 * checkpoints inside the range, and `rangeCheckpoint`, a checkpoint signed at
 * the range's last seq. Each record carries what its hash covers, so the
 * records recompute to `headHash`, which `rangeCheckpoint` signs: that
 * signature is what pins every exported byte.
 */
export interface ExportManifest {
  readonly workspaceId: string;
  readonly format: "ndjson" | "csv";
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly count: number;
  readonly prevHash: string | null;
  readonly headHash: string | null;
  readonly sha256: string;
  /** Stored checkpoints with a seq inside the range (each signs the hash of the record at its seq). */
  readonly checkpoints: readonly Checkpoint[];
  /** Signed at `toSeq` over `headHash`; null when the range is empty or could not be signed (see `rangeUnsigned`). */
  readonly rangeCheckpoint: Checkpoint | null;
  /** Why `rangeCheckpoint` is null: no signing key configured, an empty range, or damage verify found. */
  readonly rangeUnsigned?: string;
  /**
   * The keys of the signer and of the logger's `publicKeys`, for convenience.
   * A verifier must take its keys from somewhere the exporter cannot write:
   * keys read from the manifest prove nothing about who signed.
   */
  readonly publicKeys: AuditPublicKeys;
  readonly exportedAt: string;
}

/** Signs the exported range at its last entry, or says why not (see `pinRange`). */
export type RangeSigner = (range: {
  toSeq: number;
  headHash: string;
  checkpoints: readonly Checkpoint[];
}) => Promise<Result<{ checkpoint: Checkpoint } | { unsigned: string }, SqlError>>;

const PAGE = 1_000;

/**
 * Streams [from, to] of a workspace's log to `write` (NDJSON or CSV) and returns the manifest.
 * A `write` that throws or rejects ends the export with `ExportWriteFailed`: what it already
 * took is not a whole export and has no manifest.
 */
export async function exportEntries(
  store: AuditStore,
  options: {
    workspaceId: string;
    format: "ndjson" | "csv";
    from: number;
    to: number;
    write: (chunk: string) => void | Promise<void>;
    publicKeys: AuditPublicKeys;
    now: number;
    signRange: RangeSigner;
  },
): Promise<Result<ExportManifest, SqlError | ExportWriteFailedError>> {
  const digest = createHash("sha256");
  const emit = async (chunk: string): Promise<ExportWriteFailedError | undefined> => {
    digest.update(chunk);
    try {
      await options.write(chunk);
      return undefined;
    } catch (thrown) {
      return tenancyError("ExportWriteFailed", `export write failed: ${describeThrown(thrown)}`, { workspaceId: options.workspaceId, cause: thrown });
    }
  };
  if (options.format === "csv") {
    const failed = await emit(CSV_HEADER);
    if (failed !== undefined) return err(failed);
  }
  let after: ReadCursor | undefined = options.from > 1 ? { seq: options.from - 1, hash: new Uint8Array(32).fill(255) } : undefined;
  let count = 0;
  let first: number | undefined;
  let last: number | undefined;
  let prevHash: string | null = null;
  let headHash: string | null = null;
  for (;;) {
    const page = await store.readEntries(options.workspaceId, after, options.to, PAGE);
    if (page.isErr()) return err(page.error);
    let chunk = "";
    for (const row of page.value) {
      chunk += renderRecord(row, options.format);
      first ??= row.seq;
      prevHash ??= Buffer.from(row.prevHash).toString("hex");
      last = row.seq;
      headHash = Buffer.from(row.hash).toString("hex");
      count++;
    }
    if (chunk !== "") {
      const failed = await emit(chunk);
      if (failed !== undefined) return err(failed);
    }
    const tail = page.value[page.value.length - 1];
    if (tail === undefined || page.value.length < PAGE) break;
    after = { seq: tail.seq, hash: tail.hash };
  }
  const checkpoints = await store.checkpoints(options.workspaceId);
  if (checkpoints.isErr()) return err(checkpoints.error);
  const fromSeq = first ?? options.from;
  const toSeq = last ?? fromSeq - 1;
  let signed: { checkpoint: Checkpoint } | { unsigned: string } = { unsigned: "the range is empty" };
  if (last !== undefined && headHash !== null) {
    const pinned = await options.signRange({ toSeq: last, headHash, checkpoints: checkpoints.value });
    if (pinned.isErr()) return err(pinned.error);
    signed = pinned.value;
  }
  return ok({
    workspaceId: options.workspaceId,
    format: options.format,
    fromSeq,
    toSeq,
    count,
    prevHash,
    headHash,
    sha256: digest.digest("hex"),
    checkpoints: checkpoints.value.filter((c) => c.seq >= fromSeq && c.seq <= toSeq),
    rangeCheckpoint: "checkpoint" in signed ? signed.checkpoint : null,
    ...("unsigned" in signed ? { rangeUnsigned: signed.unsigned } : {}),
    publicKeys: options.publicKeys,
    exportedAt: new Date(options.now).toISOString(),
  });
}
