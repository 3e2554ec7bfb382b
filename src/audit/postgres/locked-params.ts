import type { ChainHead } from "../chain.js";
import type { PreparedEvent } from "../event.js";
import { numbers, packHashes, personalText, rowColumns, texts } from "./row-params.js";

/**
 * The parameters of `audit_append_locked` (locked-append-function.ts) for a
 * batch: its workspaces sorted, with the heads the caller believes they
 * have, the caller's clock, then every event in the caller's order.
 */
export function lockedParams(
  events: readonly PreparedEvent[],
  nowMs: number,
  believed: (workspaceId: string) => ChainHead,
): { workspaces: string[]; params: unknown[] } {
  const workspaces = [...new Set(events.map((e) => e.workspaceId))].sort();
  const heads = workspaces.map(believed);
  const c = rowColumns(events, workspaces, events.map(personalText));
  const params = [
    texts(workspaces),
    numbers(heads.map((h) => h.seq)),
    packHashes(heads),
    numbers(heads.map((h) => h.recordedAtMs)),
    nowMs,
    c.ws,
    ...c.columns,
  ];
  return { workspaces, params };
}
