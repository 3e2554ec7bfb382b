import { createHash } from "node:crypto";
import { parseBody } from "./body.js";
import { entryHash, GENESIS_HASH } from "./chain.js";
import { parseCsv, parseNdjson, renderRecord, storedFromRaw, CSV_HEADER, type RawRecord } from "./export-format.js";
import type { ExportManifest } from "./export.js";
import { exportStatementValid, STATEMENT_FIELDS } from "./export-statement.js";
import { expectedRequest, rangeProblem, type ExportExpectation } from "./export-request.js";
import { checkpointValid, type Checkpoint } from "./records.js";
import type { AuditPublicKeys } from "./signing.js";
import { openingsProblem } from "./verify-entry.js";

export type { ExportExpectation } from "./export-request.js";

/** The outcome of `verifyExport`; a failed check is data, like verify's damage. */
export interface ExportCheck {
  /** `state === "verified"`. */
  readonly ok: boolean;
  /**
   * `verified`: every check passed and a trusted key signed the statement.
   * `unsigned`: the text is consistent with the manifest and with itself,
   * but nothing signed the export (no key, damage found, …: `problem` says
   * why), so whoever can write the database could have written it.
   * `invalid`: a check failed (`problem`).
   */
  readonly state: "verified" | "unsigned" | "invalid";
  /** The first failed check, or why the export is unsigned: the seq of the record it concerns, when one does. */
  readonly problem: { readonly seq: number | null; readonly message: string } | null;
  readonly entries: number;
  /** Key id of the trusted signature over the export's statement. */
  readonly signedBy: string | null;
}

/**
 * Checks an export (the exact text `exportLog` wrote, and its manifest)
 * against what the checker asked for, without the database or the logger,
 * so a third party can run it:
 * 1. the manifest answers the expected request: its workspace and requested
 *    `from`/`to` are the expected ones, and its range covers them
 *    (`rangeProblem`: it reaches the requested end or the head it saw);
 * 2. the SHA-256 of the text is the manifest's;
 * 3. each record's hash recomputes from the expected workspace id, its seq,
 *    `recordedAtMs`, `prevHash` and `body` (the entry hash, docs/audit.md),
 *    seqs run from `fromSeq` to `toSeq` without a gap, each `prevHash` is the
 *    previous record's hash (the first, the manifest's `prevHash`), and the
 *    last hash is `headHash`;
 * 4. each body parses, and `openings` opens exactly its commitments;
 * 5. re-rendering every record from those raw fields gives the text byte for
 *    byte, so no other field (action, targets, personal values shown, …)
 *    can differ from what the hash covers;
 * 6. stored checkpoints in the range under a trusted key sign the hash of
 *    the record at their seq;
 * 7. `statement` is signed by one of `expected.publicKeys` and each signed
 *    field equals the manifest's (so the request, range, count, hashes, head
 *    seq, digest and `exportedAt` are all the exporter's); without one the
 *    state is `unsigned`.
 * The manifest's own `publicKeys` are deliberately not used. Never throws.
 */
export function verifyExport(text: string, manifest: ExportManifest, expected: ExportExpectation): ExportCheck {
  let entries = 0;
  const fail = (message: string, seq: number | null = null): ExportCheck => ({ ok: false, state: "invalid", problem: { seq, message }, entries, signedBy: null });
  try {
    const request = expectedRequest(expected);
    if (typeof request === "string") return fail(request);
    const { workspaceId } = request;
    if (typeof text !== "string") return fail("the export is not text");
    const m = manifest;
    if (typeof m !== "object" || m === null || (m.format !== "ndjson" && m.format !== "csv")) return fail("the manifest is malformed");
    if (m.workspaceId !== workspaceId) return fail(`the export is of workspace ${String(m.workspaceId)}, not the expected ${workspaceId}`);
    if (m.requestedFrom !== request.from || m.requestedTo !== request.to) {
      return fail(`the export answers from ${String(m.requestedFrom)} to ${String(m.requestedTo)}, not the expected ${request.from} to ${String(request.to)}`);
    }
    if (createHash("sha256").update(text).digest("hex") !== m.sha256) return fail("the text's SHA-256 is not the manifest's");
    const records = m.format === "csv" ? parseCsv(text) : parseNdjson(text);
    if (typeof records === "string") return fail(records);
    let prev = m.prevHash;
    for (const [i, raw] of records.entries()) {
      const problem = recordProblem(workspaceId, raw, m.fromSeq + i, prev);
      if (problem !== undefined) return fail(problem, raw.seq);
      prev = raw.hash;
      entries++;
    }
    const last = records.at(-1);
    if (m.count !== records.length) return fail(`the manifest counts ${m.count} entries; the text holds ${records.length}`);
    if (m.toSeq !== (last?.seq ?? m.fromSeq - 1)) return fail("the manifest's toSeq is not the last record's seq");
    if (m.headHash !== (last?.hash ?? null)) return fail("the manifest's headHash is not the last record's hash");
    if (last === undefined && m.prevHash !== null) return fail("the manifest of an empty export has a prevHash");
    const short = rangeProblem(m, request);
    if (short !== undefined) return fail(short);
    const rendered = (m.format === "csv" ? CSV_HEADER : "") + records.map((r) => renderRecord(storedFromRaw(workspaceId, r), m.format)).join("");
    if (rendered !== text) return fail("a record differs from what its hashed fields render to", firstDifferent(workspaceId, m.format, text, records));
    const byHash = new Map(records.map((r) => [r.seq, r.hash]));
    for (const c of Array.isArray(m.checkpoints) ? m.checkpoints : []) {
      // Only checkpoints under a key the checker trusts say anything; others are skipped, not failed.
      if (!Object.hasOwn(expected.publicKeys, c.keyId) || !byHash.has(c.seq)) continue;
      if (!signs(c, workspaceId, c.seq, byHash.get(c.seq) as string, expected.publicKeys)) {
        return fail(`the checkpoint at seq ${c.seq} does not sign the exported hash`, c.seq);
      }
    }
    const s = m.statement;
    if (s === null || s === undefined) {
      const message = `the export is not signed: ${m.rangeUnsigned ?? "the manifest has no statement"}`;
      return { ok: false, state: "unsigned", problem: { seq: null, message }, entries, signedBy: null };
    }
    if (!exportStatementValid(s, expected.publicKeys)) return fail("the statement is not an export statement signed by a trusted key");
    const differs = STATEMENT_FIELDS.find((field) => s[field] !== m[field]);
    if (differs !== undefined) return fail(`the manifest's ${differs} is not the one signed`);
    return { ok: true, state: "verified", problem: null, entries, signedBy: s.keyId };
  } catch (thrown) {
    // Defence in depth: the checks above are written not to throw on any input.
    return fail(`the export could not be read (${thrown instanceof Error ? thrown.message : "it threw"})`);
  }
}

function recordProblem(workspaceId: string, raw: RawRecord, seq: number, prev: string | null): string | undefined {
  if (raw.seq !== seq) return `expected seq ${seq}, found ${raw.seq}`;
  if (raw.prevHash !== prev) return `entry ${seq} does not link to the one before it`;
  if (seq === 1 && raw.prevHash !== Buffer.from(GENESIS_HASH).toString("hex")) return "entry 1 does not start from the genesis hash";
  const hash = entryHash(workspaceId, raw.seq, raw.recordedAtMs, Buffer.from(raw.prevHash, "hex"), raw.body).toString("hex");
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
function firstDifferent(workspaceId: string, format: "ndjson" | "csv", text: string, records: readonly RawRecord[]): number | null {
  let offset = format === "csv" ? CSV_HEADER.length : 0;
  for (const r of records) {
    const line = renderRecord(storedFromRaw(workspaceId, r), format);
    if (!text.startsWith(line, offset)) return r.seq;
    offset += line.length;
  }
  return null;
}
