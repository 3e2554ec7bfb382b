import { parseBody, personalOpenings, targetKey, type EntryBody } from "./body.js";
import type { StoredEntry } from "./event.js";
import { commitment } from "./commitment.js";

/**
 * Checks what the hash does not cover directly: the query columns must equal
 * the hashed body (else a filter could be steered by editing a column), and
 * each stored personal value must match its hashed commitment. Returns a
 * description of the first mismatch, or undefined. Never throws, whatever
 * the row holds (an edited row may hold anything).
 */
export function entryConsistent(row: StoredEntry): string | undefined {
  const body = parseBody(row.body);
  if (typeof body === "string") return `entry ${row.seq}: ${body}`;
  const ix = row.index;
  if (
    body.action !== ix.action ||
    body.actor.type !== ix.actorType ||
    body.actor.id !== ix.actorId ||
    body.outcome.status !== ix.outcome ||
    body.occurredAt !== isoOf(ix.occurredAtMs)
  ) {
    return `entry ${row.seq} has query columns that differ from its hashed body`;
  }
  const targets = body.targets;
  if (!Array.isArray(ix.targets) || targets.length !== ix.targets.length || targets.some((t, i) => targetKey(t.type, t.id) !== ix.targets[i])) {
    return `entry ${row.seq} has target columns that differ from its hashed body`;
  }
  const problem = openingsProblem(body, row.personal);
  return problem === undefined ? undefined : `entry ${row.seq} ${problem}`;
}

/**
 * Whether a personal column (path → `{ value, salt }`, or null once erased)
 * opens exactly the commitments of the body; a description of the first
 * mismatch, or undefined. Shared by verify and by `verifyExport`.
 */
export function openingsProblem(body: EntryBody, personal: unknown): string | undefined {
  const openings = personalOpenings(personal);
  if (openings === null) return undefined;
  if (typeof openings === "string") return `has ${openings}`;
  const paths = Object.keys(openings);
  if (paths.length !== Object.keys(body.commitments).length) return "has personal fields its body does not commit to";
  for (const path of paths) {
    const stored = openings[path] as { value: never; salt: unknown };
    if (typeof stored.salt !== "string" || body.commitments[path] !== commitment(body.v, path, stored.value, stored.salt)) {
      return `has a personal field (${path}) that does not match its commitment`;
    }
  }
  return undefined;
}

function isoOf(ms: number): string | undefined {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
