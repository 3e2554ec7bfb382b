import { canonicalJson } from "./canonical.js";
import type { AuditPublicKeys, AuditSigner } from "./signing.js";
import { verifySignature } from "./signing.js";

/**
 * What the exporter signs about one export: "at `exportedAt`, when the
 * workspace's head was at `headSeq`, I was asked for [`requestedFrom`,
 * `requestedTo`] (null: to the end) and wrote these `count` entries,
 * `fromSeq`..`toSeq`, linking from `prevHash` to `headHash`, as this text
 * (`sha256`, `format`), having verified them". Its own statement type, never
 * a checkpoint: a checkpoint says the appending process saw that head, while
 * this says only what an exporter read and checked at export time (see
 * docs/audit.md, "What an export's signature vouches for").
 */
export interface ExportStatement {
  readonly workspaceId: string;
  readonly format: "ndjson" | "csv";
  readonly requestedFrom: number;
  readonly requestedTo: number | null;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly count: number;
  readonly prevHash: string | null;
  readonly headHash: string | null;
  /** The workspace's head seq when the export began reading (0: no entries). */
  readonly headSeq: number;
  readonly sha256: string;
  readonly exportedAt: string;
  readonly keyId: string;
  /** Base64 Ed25519 signature over `exportStatementMessage`. */
  readonly signature: string;
}

export type UnsignedExportStatement = Omit<ExportStatement, "keyId" | "signature">;

/** The signed fields, in the order verifyExport compares them with the manifest. */
export const STATEMENT_FIELDS = [
  "workspaceId", "format", "requestedFrom", "requestedTo", "fromSeq", "toSeq", "count",
  "prevHash", "headHash", "headSeq", "sha256", "exportedAt",
] as const satisfies readonly (keyof UnsignedExportStatement)[];

/**
 * The exact bytes the signature covers: canonical JSON with its own type tag,
 * so no export signature verifies as a checkpoint or prune record and none
 * of those as an export. Fields are picked by name (extra ones are ignored);
 * undefined when a field cannot be canonicalised (a manifest from elsewhere).
 */
export function exportStatementMessage(s: Omit<ExportStatement, "signature">): string | undefined {
  const fields: Record<string, unknown> = { type: "tenancykit.audit.export.v1", keyId: s.keyId };
  for (const name of STATEMENT_FIELDS) fields[name] = s[name];
  const json = canonicalJson(fields);
  return json.isOk() ? json.value : undefined;
}

export function signExportStatement(signer: AuditSigner, s: UnsignedExportStatement): ExportStatement {
  const unsigned = { ...s, keyId: signer.keyId };
  // Every field is a string, a safe integer or null: canonicalJson cannot refuse them.
  return { ...unsigned, signature: signer.sign(exportStatementMessage(unsigned) as string) };
}

/** Whether `s` is a statement signed by one of `keys`; false for anything malformed, never a throw. */
export function exportStatementValid(s: unknown, keys: AuditPublicKeys): s is ExportStatement {
  if (typeof s !== "object" || s === null) return false;
  const { keyId, signature } = s as { keyId?: unknown; signature?: unknown };
  if (typeof keyId !== "string" || typeof signature !== "string" || !Object.hasOwn(keys, keyId)) return false;
  const message = exportStatementMessage(s as ExportStatement);
  return message !== undefined && verifySignature(message, signature, keys[keyId] as string);
}
