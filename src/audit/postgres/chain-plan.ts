import { chainEvents, EMPTY_HEAD, type ChainHead, type KnownKey } from "../chain.js";
import type { PreparedEvent, StoredEntry } from "../event.js";
import type { BatchOutcome } from "../store.js";

/** One batch chained in Node on assumed heads: what `audit_append_chained` is asked to write. */
export interface ChainPlan {
  /** The batch's workspaces, sorted (the function locks their heads in this order). */
  readonly workspaces: readonly string[];
  /** The head each workspace's chain was built on, and the head after it (same order as `workspaces`). */
  readonly before: readonly ChainHead[];
  readonly after: readonly ChainHead[];
  readonly entries: readonly StoredEntry[];
  /** Per event, in the caller's order: where it went. */
  readonly outcomes: readonly BatchOutcome[];
}

/**
 * Chains a batch: events grouped by workspace (their order within a
 * workspace kept), each group on `headOf(workspace)`, with the idempotency
 * keys already stored in `known` (per workspace) turned into duplicates.
 */
export function planChain(
  events: readonly PreparedEvent[],
  nowMs: number,
  headOf: (workspaceId: string) => ChainHead | undefined,
  known: ReadonlyMap<string, ReadonlyMap<string, KnownKey>>,
): ChainPlan {
  const groups = new Map<string, number[]>();
  events.forEach((event, i) => {
    const group = groups.get(event.workspaceId);
    if (group === undefined) groups.set(event.workspaceId, [i]);
    else group.push(i);
  });
  const workspaces = [...groups.keys()].sort();
  const before: ChainHead[] = [];
  const after: ChainHead[] = [];
  const entries: StoredEntry[] = [];
  const outcomes = new Array<BatchOutcome>(events.length);
  for (const workspaceId of workspaces) {
    const indexes = groups.get(workspaceId) as number[];
    const head = headOf(workspaceId) ?? EMPTY_HEAD;
    const chained = chainEvents(
      head,
      indexes.map((i) => events[i] as PreparedEvent),
      nowMs,
      known.get(workspaceId) ?? NO_KEYS,
    );
    chained.outcomes.forEach((o, j) => {
      outcomes[indexes[j] as number] =
        o.kind === "new"
          ? { seq: o.entry.seq, hash: o.entry.hash, recordedAtMs: o.entry.recordedAtMs, duplicate: false }
          : { seq: o.seq, hash: o.hash, recordedAtMs: o.recordedAtMs, duplicate: true };
    });
    for (const entry of chained.entries) entries.push(entry);
    before.push(head);
    after.push(chained.head);
  }
  return { workspaces, before, after, entries, outcomes };
}

const NO_KEYS: ReadonlyMap<string, KnownKey> = new Map();

/** The 21 parameters of `audit_append_chained`, column arrays in the function's order. */
export function planParams(plan: ChainPlan): unknown[] {
  const n = plan.entries.length;
  const ws = new Array<string>(n);
  const seq = new Array<number>(n);
  const ms = new Array<number>(n);
  const prev = new Array<Uint8Array>(n);
  const hash = new Array<Uint8Array>(n);
  const body = new Array<string>(n);
  const personal = new Array<string | null>(n);
  const key = new Array<string | null>(n);
  const actorType = new Array<string>(n);
  const actorId = new Array<string>(n);
  const action = new Array<string>(n);
  const outcome = new Array<string>(n);
  const occurred = new Array<string>(n);
  const targets = new Array<string>(n);
  plan.entries.forEach((e, i) => {
    ws[i] = e.workspaceId;
    seq[i] = e.seq;
    ms[i] = e.recordedAtMs;
    prev[i] = e.prevHash;
    hash[i] = e.hash;
    body[i] = e.body;
    personal[i] = e.personal === null ? null : JSON.stringify(e.personal);
    key[i] = e.idempotencyKey;
    actorType[i] = e.index.actorType;
    actorId[i] = e.index.actorId;
    action[i] = e.index.action;
    outcome[i] = e.index.outcome;
    occurred[i] = new Date(e.index.occurredAtMs).toISOString();
    targets[i] = JSON.stringify(e.index.targets);
  });
  return [
    plan.workspaces,
    plan.before.map((h) => h.seq),
    plan.before.map((h) => asBuffer(h.hash)),
    plan.before.map((h) => h.recordedAtMs),
    plan.after.map((h) => h.seq),
    plan.after.map((h) => asBuffer(h.hash)),
    plan.after.map((h) => h.recordedAtMs),
    ws,
    seq,
    ms,
    prev.map(asBuffer),
    hash.map(asBuffer),
    body,
    personal,
    key,
    actorType,
    actorId,
    action,
    outcome,
    occurred,
    targets,
  ];
}

/** pg serialises Buffers (not plain Uint8Arrays) inside arrays as bytea; no copy when it already is one. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
