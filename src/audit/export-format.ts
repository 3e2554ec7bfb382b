import type { JsonValue } from "./canonical.js";
import { isRecord, targetKey } from "./body.js";
import { toAuditEntry, type AuditEntry } from "./entry.js";
import type { PersonalValue, StoredEntry } from "./event.js";

/**
 * One exported entry: the entry as `query` returns it, plus what its hash
 * covers and the entry does not show as stored, so that anyone can recompute
 * the hash without the database: `recordedAtMs` and `body` (the canonical
 * JSON the hash covers, verbatim; it holds commitments, never personal
 * values). `openings` is the personal column as stored (path → value and
 * salt; null once erased), which lets anyone check each personal value shown
 * against its commitment in `body`. The salt reveals nothing the value shown
 * beside it does not.
 */
export interface ExportRecord extends AuditEntry {
  readonly recordedAtMs: number;
  readonly body: string;
  readonly openings: Readonly<Record<string, PersonalValue>> | null;
}

/** The raw fields of an exported entry: all a verifier needs to rebuild its record byte for byte. */
export interface RawRecord {
  readonly seq: number;
  readonly recordedAtMs: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly body: string;
  readonly openings: unknown;
}

const CSV_COLUMNS = [
  "seq", "recordedAt", "occurredAt", "action", "actorType", "actorId", "actorDisplay", "targets",
  "outcome", "reason", "requestId", "ip", "userAgent", "metadata", "hash", "prevHash",
  "recordedAtMs", "body", "openings", "corrupt",
] as const;
export const CSV_HEADER = `${CSV_COLUMNS.join(",")}\n`;

function csvCell(value: string): string {
  // Quote always; double inner quotes. A leading =,+,-,@ is prefixed so spreadsheets do not run it as a formula.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

function csvRow(e: AuditEntry, row: StoredEntry, openings: StoredEntry["personal"]): string {
  const cells = [
    String(e.seq), e.recordedAt, e.occurredAt, e.action, e.actor.type, e.actor.id, e.actor.display ?? "",
    e.targets.map((t) => targetKey(t.type, t.id)).join(" "), e.outcome.status, e.outcome.reason ?? "",
    e.context.requestId ?? "", e.context.ip ?? "", e.context.userAgent ?? "", JSON.stringify(e.metadata), e.hash, e.prevHash,
    String(row.recordedAtMs), row.body, openings === null ? "" : JSON.stringify(openings), e.corrupt ?? "",
  ];
  return `${cells.map(csvCell).join(",")}\n`;
}

/** One entry's line of an export. Pure: `verifyExport` re-renders every line and compares bytes. */
export function renderRecord(row: StoredEntry, format: "ndjson" | "csv"): string {
  const entry = toAuditEntry(row);
  // A store that leaves the column undefined means what null means (nothing stored, or erased): JSON
  // would drop an undefined member, and verifyExport rejects a record without openings.
  const openings = row.personal ?? null;
  if (format === "csv") return csvRow(entry, row, openings);
  const record: ExportRecord = { ...entry, recordedAtMs: row.recordedAtMs, body: row.body, openings };
  return `${JSON.stringify(record)}\n`;
}

/**
 * A stored entry rebuilt from an export's raw fields. The query columns are
 * derived from the body (they are not exported: the body is what the hash
 * covers); only a body that parses is rebuilt, so they are never read.
 */
export function storedFromRaw(workspaceId: string, raw: RawRecord): StoredEntry {
  return {
    workspaceId,
    seq: raw.seq,
    recordedAtMs: raw.recordedAtMs,
    prevHash: Buffer.from(raw.prevHash, "hex"),
    hash: Buffer.from(raw.hash, "hex"),
    body: raw.body,
    personal: raw.openings as StoredEntry["personal"],
    idempotencyKey: null,
    index: { actorType: "", actorId: "", action: "", outcome: "success", occurredAtMs: 0, targets: [] },
  };
}


/** The raw fields of each NDJSON line, or a problem naming the line. */
export function parseNdjson(text: string): RawRecord[] | string {
  if (text === "") return [];
  if (!text.endsWith("\n")) return "the export does not end with a newline";
  const out: RawRecord[] = [];
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return `line ${i + 1} is not JSON`;
    }
    if (!isRecord(value)) return `line ${i + 1} is not a JSON object`;
    const raw = rawFields(value.seq, value.recordedAtMs, value.prevHash, value.hash, value.body, value.openings);
    if (typeof raw === "string") return `line ${i + 1}: ${raw}`;
    out.push(raw);
  }
  return out;
}

/** The raw fields of each CSV row (the format `renderRecord` writes: every cell quoted), or a problem. */
export function parseCsv(text: string): RawRecord[] | string {
  if (!text.startsWith(CSV_HEADER)) return "the export does not start with the CSV header";
  const rows = csvCells(text.slice(CSV_HEADER.length));
  if (typeof rows === "string") return rows;
  const out: RawRecord[] = [];
  const at = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
  for (const [i, cells] of rows.entries()) {
    if (cells.length !== CSV_COLUMNS.length) return `row ${i + 1} has ${cells.length} cells, not ${CSV_COLUMNS.length}`;
    const cell = (name: (typeof CSV_COLUMNS)[number]) => cells[at(name)] as string;
    let openings: unknown = null;
    if (cell("openings") !== "") {
      try {
        openings = JSON.parse(cell("openings"));
      } catch {
        return `row ${i + 1}: openings is not JSON`;
      }
    }
    const number = (text: string) => (/^-?[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN);
    const raw = rawFields(number(cell("seq")), number(cell("recordedAtMs")), cell("prevHash"), cell("hash"), cell("body"), openings);
    if (typeof raw === "string") return `row ${i + 1}: ${raw}`;
    out.push(raw);
  }
  return out;
}

/** Splits rows of quoted cells (`"a ""b""","c"\n`); anything else is a problem, never a guess. */
function csvCells(text: string): string[][] | string {
  const rows: string[][] = [];
  let cells: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') return `a cell at offset ${i} is not quoted`;
    let value = "";
    i++;
    for (;;) {
      const quote = text.indexOf('"', i);
      if (quote < 0) return "a quoted cell does not end";
      value += text.slice(i, quote);
      i = quote + 1;
      if (text[i] !== '"') break;
      value += '"'; // a doubled quote inside the cell
      i++;
    }
    cells.push(value);
    if (text[i] === "\n") {
      rows.push(cells);
      cells = [];
    } else if (text[i] !== ",") return `a cell ending at offset ${i} is followed by neither a comma nor a newline`;
    i++;
  }
  return cells.length === 0 ? rows : "the last row does not end with a newline";
}

function rawFields(seq: unknown, recordedAtMs: unknown, prevHash: unknown, hash: unknown, body: unknown, openings: unknown): RawRecord | string {
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return "seq is not a positive integer";
  if (!Number.isSafeInteger(recordedAtMs)) return "recordedAtMs is not an integer";
  const hex = /^[0-9a-f]{64}$/;
  if (typeof prevHash !== "string" || !hex.test(prevHash) || typeof hash !== "string" || !hex.test(hash)) return "hash or prevHash is not 64 hex digits";
  if (typeof body !== "string") return "body is not a string";
  if (openings !== null && !isRecord(openings)) return "openings is neither null nor an object";
  return { seq: seq as number, recordedAtMs: recordedAtMs as number, prevHash, hash, body, openings: openings as JsonValue };
}
