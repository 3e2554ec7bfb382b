import { createHash } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import type { SqlError } from "../core/postgres/result.js";
import { toAuditEntry, type AuditEntry } from "./entry.js";
import type { Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import type { AuditStore, ReadCursor } from "./store.js";

/**
 * What ships with an export so a third party can check it: the seq range,
 * the hash before the first entry and of the last, the SHA-256 of the exported
 * bytes, and the signed checkpoints (with public keys) that pin the chain.
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
  readonly checkpoints: readonly Checkpoint[];
  readonly publicKeys: AuditPublicKeys;
  readonly exportedAt: string;
}

const CSV_COLUMNS = [
  "seq", "recordedAt", "occurredAt", "action", "actorType", "actorId", "actorDisplay", "targets",
  "outcome", "reason", "requestId", "ip", "userAgent", "metadata", "hash", "prevHash",
] as const;

function csvCell(value: string): string {
  // Quote always; double inner quotes. A leading =,+,-,@ is prefixed so spreadsheets do not run it as a formula.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

function csvRow(e: AuditEntry): string {
  const cells = [
    String(e.seq), e.recordedAt, e.occurredAt, e.action, e.actor.type, e.actor.id, e.actor.display ?? "",
    e.targets.map((t) => `${t.type}:${t.id}`).join(" "), e.outcome.status, e.outcome.reason ?? "",
    e.context.requestId ?? "", e.context.ip ?? "", e.context.userAgent ?? "", JSON.stringify(e.metadata), e.hash, e.prevHash,
  ];
  return `${cells.map(csvCell).join(",")}\n`;
}

/** Streams [from, to] of a workspace's log to `write` (NDJSON or CSV) and returns the manifest. */
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
  },
): Promise<Result<ExportManifest, SqlError>> {
  const digest = createHash("sha256");
  const emit = async (chunk: string) => {
    digest.update(chunk);
    await options.write(chunk);
  };
  if (options.format === "csv") await emit(`${CSV_COLUMNS.join(",")}\n`);
  let after: ReadCursor | undefined = options.from > 1 ? { seq: options.from - 1, hash: new Uint8Array(32).fill(255) } : undefined;
  let count = 0;
  let first: number | undefined;
  let last: number | undefined;
  let prevHash: string | null = null;
  let headHash: string | null = null;
  for (;;) {
    const page = await store.readEntries(options.workspaceId, after, options.to, 1_000);
    if (page.isErr()) return err(page.error);
    let chunk = "";
    for (const row of page.value) {
      const entry = toAuditEntry(row);
      chunk += options.format === "csv" ? csvRow(entry) : `${JSON.stringify(entry)}\n`;
      first ??= entry.seq;
      prevHash ??= entry.prevHash;
      last = entry.seq;
      headHash = entry.hash;
      count++;
    }
    if (chunk !== "") await emit(chunk);
    const tail = page.value[page.value.length - 1];
    if (tail === undefined || page.value.length < 1_000) break;
    after = { seq: tail.seq, hash: tail.hash };
  }
  const checkpoints = await store.checkpoints(options.workspaceId);
  if (checkpoints.isErr()) return err(checkpoints.error);
  const fromSeq = first ?? options.from;
  const toSeq = last ?? fromSeq - 1;
  // The checkpoints inside the range, plus the first one after it (it pins the range's hashes too).
  const inRange = checkpoints.value.filter((c) => c.seq >= fromSeq && c.seq <= toSeq);
  const nextAfter = checkpoints.value.find((c) => c.seq > toSeq);
  return ok({
    workspaceId: options.workspaceId,
    format: options.format,
    fromSeq,
    toSeq,
    count,
    prevHash,
    headHash,
    sha256: digest.digest("hex"),
    checkpoints: nextAfter ? [...inRange, nextAfter] : inRange,
    publicKeys: options.publicKeys,
    exportedAt: new Date(options.now).toISOString(),
  });
}
