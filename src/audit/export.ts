import { createHash } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { describeThrown, tenancyError } from "../core/errors.js";
import type { SqlError } from "../core/postgres/result.js";
import type { ExportWriteFailedError } from "./errors.js";
import { CSV_HEADER, renderRecord } from "./export-format.js";
import type { PinOutcome } from "./export-pin.js";
import type { ExportStatement, UnsignedExportStatement } from "./export-statement.js";
import type { Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import type { AuditStore, ReadCursor } from "./store.js";

/**
 * What ships with an export so a third party can check it (`verifyExport`,
 * docs/audit.md "Checking an export"). The fields of `ExportStatement` (the
 * request, the seq range, the hash before the first entry and of the last,
 * the head seq when the export began, the SHA-256 of the exported bytes and
 * `exportedAt`) are repeated here and signed in `statement`; `checkpoints`
 * are signed on their own; `rangeUnsigned` and `publicKeys` are not signed.
 */
export interface ExportManifest extends UnsignedExportStatement {
  /** Stored checkpoints with a seq inside the range (each signs the hash of the record at its seq). */
  readonly checkpoints: readonly Checkpoint[];
  /** The exporter's signature over the statement fields; null when not signed (see `rangeUnsigned`). */
  readonly statement: ExportStatement | null;
  /** Why `statement` is null: no signing key, damage verify found, rows missing, a checkpoint no configured key verifies. */
  readonly rangeUnsigned?: string;
  /**
   * The keys of the signer and of the logger's `publicKeys`, for convenience.
   * A verifier must take its keys from somewhere the exporter cannot write:
   * keys read from the manifest prove nothing about who signed.
   */
  readonly publicKeys: AuditPublicKeys;
}

/** Signs the export's statement, or says why not (see `pinRange`). */
export type RangeSigner = (
  statement: UnsignedExportStatement,
  checkpoints: readonly Checkpoint[],
) => Promise<Result<PinOutcome, SqlError>>;

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
    /** null: to the end of the log. */
    to: number | null;
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
  // Read before the rows: every entry up to it is committed, so the export holds all of them in its range.
  const head = await store.head(options.workspaceId);
  if (head.isErr()) return err(head.error);
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
    const page = await store.readEntries(options.workspaceId, after, options.to ?? Number.MAX_SAFE_INTEGER, PAGE);
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
  const statement: UnsignedExportStatement = {
    workspaceId: options.workspaceId,
    format: options.format,
    requestedFrom: options.from,
    requestedTo: options.to,
    fromSeq,
    toSeq,
    count,
    prevHash,
    headHash,
    headSeq: head.value?.seq ?? 0,
    sha256: digest.digest("hex"),
    exportedAt: new Date(options.now).toISOString(),
  };
  const signed = await options.signRange(statement, checkpoints.value);
  if (signed.isErr()) return err(signed.error);
  return ok({
    ...statement,
    checkpoints: checkpoints.value.filter((c) => c.seq >= fromSeq && c.seq <= toSeq),
    statement: "statement" in signed.value ? signed.value.statement : null,
    ...("unsigned" in signed.value ? { rangeUnsigned: signed.value.unsigned } : {}),
    publicKeys: options.publicKeys,
  });
}
