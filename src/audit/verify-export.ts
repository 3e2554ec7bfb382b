import { createHash } from "node:crypto";
import { parseBody } from "./body.js";
import { entryHash, GENESIS_HASH } from "./chain.js";
import { parseCsv, parseNdjson, renderRecord, storedFromRaw, CSV_HEADER, type RawRecord } from "./export-format.js";
import type { ExportManifest } from "./export.js";
import { checkpointValid, type Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import { openingsProblem } from "./verify-entry.js";

/** The outcome of `verifyExport`; a failed check is data, like verify's damage. */
export interface ExportCheck {
  /** Every check passed, and the range is signed by a trusted key (or empty). */
  readonly ok: boolean;
  /** The first failed check: the seq of the record it concerns, when one does. */
  readonly problem: { readonly seq: number | null; readonly message: string } | null;
  readonly entries: number;
  /** Key id of the trusted checkpoint signed at the range's last seq. */
  readonly signedBy: string | null;
}

/**
 * Checks an export (the exact text `exportLog` wrote, and its manifest)
 * without the database or the logger, so a third party can run it:
 * 1. the SHA-256 of the text is the manifest's;
 * 2. each record's hash recomputes from the workspace id, its seq,
 *    `recordedAtMs`, `prevHash` and `body` (the entry hash, docs/audit.md),
 *    seqs run from `fromSeq` to `toSeq` without a gap, each `prevHash` is the
 *    previous record's hash (the first, the manifest's `prevHash`), and the
 *    last hash is `headHash`;
 * 3. each body parses, and `openings` opens exactly its commitments;
 * 4. re-rendering every record from those raw fields gives the text byte for
 *    byte, so no other field (action, targets, personal values shown, …)
 *    can differ from what the hash covers;
 * 5. `rangeCheckpoint` is signed by one of `trusted.publicKeys` over `toSeq`
 *    and `headHash`; stored checkpoints in the range under a trusted key must
 *    sign the hash of the record at their seq.
 * `trusted.publicKeys` must come from somewhere the exporter cannot write;
 * the manifest's own `publicKeys` are deliberately not used. Never throws.
 */
export function verifyExport(text: string, manifest: ExportManifest, trusted: { readonly publicKeys: AuditPublicKeys }): ExportCheck {
  let entries = 0;
  const fail = (message: string, seq: number | null = null): ExportCheck => ({ ok: false, problem: { seq, message }, entries, signedBy: null });
  try {
    if (typeof text !== "string") return fail("the export is not text");
    const m = manifest;
    if (typeof m !== "object" || m === null || typeof m.workspaceId !== "string" || (m.format !== "ndjson" && m.format !== "csv")) {
      return fail("the manifest is malformed");
    }
    if (createHash("sha256").update(text).digest("hex") !== m.sha256) return fail("the text's SHA-256 is not the manifest's");
    const records = m.format === "csv" ? parseCsv(text) : parseNdjson(text);
    if (typeof records === "string") return fail(records);
    let prev = m.prevHash;
    for (const [i, raw] of records.entries()) {
      const problem = recordProblem(m, raw, m.fromSeq + i, prev);
      if (problem !== undefined) return fail(problem, raw.seq);
      prev = raw.hash;
      entries++;
    }
    const last = records.at(-1);
    if (m.count !== records.length) return fail(`the manifest counts ${m.count} entries; the text holds ${records.length}`);
    if (m.toSeq !== (last?.seq ?? m.fromSeq - 1)) return fail("the manifest's toSeq is not the last record's seq");
    if (m.headHash !== (last?.hash ?? null)) return fail("the manifest's headHash is not the last record's hash");
    const rendered = (m.format === "csv" ? CSV_HEADER : "") + records.map((r) => renderRecord(storedFromRaw(m.workspaceId, r), m.format)).join("");
    if (rendered !== text) return fail("a record differs from what its hashed fields render to", firstDifferent(m, text, records));
    const byHash = new Map(records.map((r) => [r.seq, r.hash]));
    for (const c of Array.isArray(m.checkpoints) ? m.checkpoints : []) {
      // Only checkpoints under a key the checker trusts say anything; others are skipped, not failed.
      if (!Object.hasOwn(trusted.publicKeys, c.keyId) || !byHash.has(c.seq)) continue;
      if (!signs(c, m.workspaceId, c.seq, byHash.get(c.seq) as string, trusted.publicKeys)) {
        return fail(`the checkpoint at seq ${c.seq} does not sign the exported hash`, c.seq);
      }
    }
    if (last === undefined) return { ok: true, problem: null, entries, signedBy: null };
    const pin = m.rangeCheckpoint;
    if (pin === null || pin === undefined) return fail(`the range is not signed: ${m.rangeUnsigned ?? "no rangeCheckpoint"}`, last.seq);
    if (!signs(pin, m.workspaceId, last.seq, last.hash, trusted.publicKeys)) {
      return fail("rangeCheckpoint is not a trusted signature over the last record's seq and hash", last.seq);
    }
    return { ok: true, problem: null, entries, signedBy: pin.keyId };
  } catch (thrown) {
    // Defence in depth: the checks above are written not to throw on any input.
    return fail(`the export could not be read (${thrown instanceof Error ? thrown.message : "it threw"})`);
  }
}

function recordProblem(m: ExportManifest, raw: RawRecord, seq: number, prev: string | null): string | undefined {
  if (raw.seq !== seq) return `expected seq ${seq}, found ${raw.seq}`;
  if (raw.prevHash !== prev) return `entry ${seq} does not link to the one before it`;
  if (seq === 1 && raw.prevHash !== Buffer.from(GENESIS_HASH).toString("hex")) return "entry 1 does not start from the genesis hash";
  const hash = entryHash(m.workspaceId, raw.seq, raw.recordedAtMs, Buffer.from(raw.prevHash, "hex"), raw.body).toString("hex");
  if (hash !== raw.hash) return `entry ${seq} does not match its hash`;
  const body = parseBody(raw.body);
  if (typeof body === "string") return `entry ${seq}: ${body}`;
  const opened = openingsProblem(body, raw.openings);
  return opened === undefined ? undefined : `entry ${seq} ${opened}`;
}

function signs(c: Checkpoint, workspaceId: string, seq: number, hash: string, keys: AuditPublicKeys): boolean {
  return typeof c === "object" && c !== null && c.workspaceId === workspaceId && c.seq === seq && c.headHash === hash && checkpointValid(c, keys);
}

/** The seq of the first record whose rendering is not the text at its place, for the report. */
function firstDifferent(m: ExportManifest, text: string, records: readonly RawRecord[]): number | null {
  let offset = m.format === "csv" ? CSV_HEADER.length : 0;
  for (const r of records) {
    const line = renderRecord(storedFromRaw(m.workspaceId, r), m.format);
    if (!text.startsWith(line, offset)) return r.seq;
    offset += line.length;
  }
  return null;
}
