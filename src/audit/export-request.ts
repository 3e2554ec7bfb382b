/*
 * The request a checker made, and whether an export's range answers it: the
 * part of verifyExport that compares the manifest with what was asked for,
 * rather than with the text.
 */
import { parseWorkspaceId } from "../core/workspace-id.js";
import type { ExportManifest } from "./export.js";
import type { AuditPublicKeys } from "./signing.js";

/** What the checker asked for, from somewhere the exporter cannot write (never from the manifest). */
export interface ExportExpectation {
  /** Keys the checker trusts to sign exports and checkpoints. */
  readonly publicKeys: AuditPublicKeys;
  /** The workspace the export must be of (any case; compared normalised). */
  readonly workspaceId: string;
  /** The `from` and `to` passed to `exportLog`; omitted: from 1, to the end. */
  readonly from?: number;
  readonly to?: number;
}

/**
 * Whether the range covers the request: it starts no earlier than asked (later only where entries
 * were pruned, which the signer checked), ends no later, and, unless empty, reaches the requested
 * end or the head the exporter saw before reading, whichever is lower (every entry up to that head
 * was committed, so a shorter export left some out).
 */
export function rangeProblem(m: ExportManifest, request: { from: number; to: number | null }): string | undefined {
  if (!Number.isSafeInteger(m.headSeq) || m.headSeq < 0) return "the manifest's headSeq is not a seq";
  if (!Number.isSafeInteger(m.fromSeq) || m.fromSeq < request.from) return `the export starts at ${String(m.fromSeq)}, before the requested ${request.from}`;
  if (request.to !== null && m.toSeq > request.to) return `the export ends at ${m.toSeq}, after the requested ${request.to}`;
  if (m.count === 0) return m.fromSeq === request.from ? undefined : "an empty export starts elsewhere than requested";
  const end = Math.min(request.to ?? Number.MAX_SAFE_INTEGER, m.headSeq);
  return m.toSeq < end ? `the export ends at ${m.toSeq}, before ${end} (the requested end or the head it saw)` : undefined;
}

/** The expected request, normalised as `exportLog` records it, or what is wrong with it. */
export function expectedRequest(expected: ExportExpectation): { workspaceId: string; from: number; to: number | null } | string {
  if (typeof expected !== "object" || expected === null) return "the expected request is missing";
  if (typeof expected.publicKeys !== "object" || expected.publicKeys === null) return "the expected publicKeys are missing";
  const id = parseWorkspaceId(expected.workspaceId);
  if (id.isErr()) return "the expected workspaceId is not a workspace id";
  for (const bound of [expected.from, expected.to]) {
    if (bound !== undefined && (!Number.isSafeInteger(bound) || bound < 1)) return "the expected from/to are not positive integers";
  }
  return { workspaceId: id.value, from: expected.from ?? 1, to: expected.to ?? null };
}
