import type { JsonValue } from "./canonical.js";
import type { StoredEntry } from "./event.js";
import { commitment } from "./commitment.js";

interface Body {
  action?: unknown;
  actor?: { type?: unknown; id?: unknown };
  outcome?: { status?: unknown };
  occurredAt?: unknown;
  targets?: { type?: unknown; id?: unknown }[];
  commitments?: Record<string, unknown>;
  /** Body version: which commitment form (see commitment.ts). */
  v?: unknown;
}

/**
 * Checks what the hash does not cover directly: the query columns must equal
 * the hashed body (else a filter could be steered by editing a column), and
 * each stored personal value must match its hashed commitment. Returns a
 * description of the first mismatch, or undefined.
 */
export function entryConsistent(row: StoredEntry): string | undefined {
  let body: Body;
  try {
    body = JSON.parse(row.body) as Body;
  } catch {
    return `entry ${row.seq} has a body that is not JSON`;
  }
  const ix = row.index;
  if (
    body.action !== ix.action ||
    body.actor?.type !== ix.actorType ||
    body.actor.id !== ix.actorId ||
    body.outcome?.status !== ix.outcome ||
    body.occurredAt !== new Date(ix.occurredAtMs).toISOString()
  ) {
    return `entry ${row.seq} has query columns that differ from its hashed body`;
  }
  const targets = body.targets ?? [];
  if (targets.length !== ix.targets.length || targets.some((t, i) => `${String(t.type)}:${String(t.id)}` !== ix.targets[i])) {
    return `entry ${row.seq} has target columns that differ from its hashed body`;
  }
  if (row.personal !== null) {
    const commitments = body.commitments ?? {};
    const paths = Object.keys(row.personal);
    if (paths.length !== Object.keys(commitments).length) return `entry ${row.seq} has personal fields its body does not commit to`;
    for (const path of paths) {
      const stored = row.personal[path] as { value: JsonValue; salt: string };
      if (typeof stored.salt !== "string" || commitments[path] !== commitment(body.v, path, stored.value, stored.salt)) {
        return `entry ${row.seq} has a personal field (${path}) that does not match its commitment`;
      }
    }
  }
  return undefined;
}
