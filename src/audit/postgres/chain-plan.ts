import { chainEvents, EMPTY_HEAD, type ChainHead, type KnownKey } from "../chain.js";
import type { PreparedEvent, StoredEntry } from "../event.js";
import type { BatchOutcome } from "../store.js";
import { numbers, packHashes, personalText, rowColumns, texts } from "./row-params.js";

/** One batch chained in Node on assumed heads: what `audit_append_chained` is asked to write. */
export interface ChainPlan {
  /** The batch's workspaces, sorted (the function locks their heads in this order). */
  readonly workspaces: readonly string[];
  /** The head each workspace's chain was built on, and the head after it (same order as `workspaces`). */
  readonly before: readonly ChainHead[];
  readonly after: readonly ChainHead[];
  readonly entries: readonly StoredEntry[];
  /** Per entry (same order): its personal column as JSON text, "" when it has none. */
  readonly personal: readonly string[];
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
  const personal: string[] = [];
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
      const event = events[indexes[j] as number] as PreparedEvent;
      if (o.kind === "new") {
        entries.push(o.entry);
        personal.push(personalText(event));
      }
      outcomes[indexes[j] as number] =
        o.kind === "new"
          ? { seq: o.entry.seq, hash: o.entry.hash, recordedAtMs: o.entry.recordedAtMs, duplicate: false }
          : { seq: o.seq, hash: o.hash, recordedAtMs: o.recordedAtMs, duplicate: true };
    });
    before.push(head);
    after.push(chained.head);
  }
  return { workspaces, before, after, entries, personal, outcomes };
}

const NO_KEYS: ReadonlyMap<string, KnownKey> = new Map();

/** The 20 parameters of `audit_append_chained`, packed as it documents. */
export function planParams(plan: ChainPlan): unknown[] {
  const n = plan.entries.length;
  const seq = new Array<number>(n);
  const prev = Buffer.allocUnsafe(32 * n);
  const hash = Buffer.allocUnsafe(32 * n);
  for (let i = 0; i < n; i++) {
    const e = plan.entries[i] as StoredEntry;
    seq[i] = e.seq;
    prev.set(e.prevHash, 32 * i);
    hash.set(e.hash, 32 * i);
  }
  const c = rowColumns(plan.entries, plan.workspaces, plan.personal);
  return [
    texts(plan.workspaces),
    numbers(plan.before.map((h) => h.seq)),
    packHashes(plan.before),
    numbers(plan.before.map((h) => h.recordedAtMs)),
    numbers(plan.after.map((h) => h.seq)),
    packHashes(plan.after),
    numbers(plan.after.map((h) => h.recordedAtMs)),
    c.ws,
    numbers(seq),
    prev,
    hash,
    ...c.columns,
  ];
}
