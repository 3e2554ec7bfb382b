import { err, ok, type Result } from "neverthrow";
import { invalidInput } from "../core/errors.js";
import { isStorableText } from "../core/text.js";
import { targetKey } from "./body.js";
import { toAuditEntry, type AuditEntry } from "./entry.js";
import type { AuditError } from "./errors.js";
import type { AuditStore, StoreQuery } from "./store.js";
import { timeOf } from "./validate.js";

export interface QueryOptions {
  readonly workspaceId: string;
  readonly actor?: { readonly type?: string; readonly id?: string };
  readonly action?: string;
  /** Both `type` and `id` are required; matched exactly against the hashed entry. */
  readonly target?: { readonly type: string; readonly id: string };
  readonly since?: Date | number;
  readonly until?: Date | number;
  /** @default 100, at most 1000 */
  readonly limit?: number;
  readonly cursor?: string;
  /** @default "desc" (newest first); exactly "asc" or "desc". */
  readonly order?: "asc" | "desc";
}

export interface QueryPage {
  readonly entries: readonly AuditEntry[];
  /**
   * Pass back as `cursor` for the next page; absent on the last page. A page
   * filtered on a target may hold fewer than `limit` entries and still have
   * a cursor (see `MAX_SCANS`).
   */
  readonly nextCursor?: string;
}

/**
 * Store pages read for one page of a target query before it is returned
 * short (with a cursor). The `targets` column holds `type:id` unescaped, so
 * `{ type: "journey", id: "x:y" }` and `{ type: "journey:x", id: "y" }` share a
 * column value; the column filter is a superset and each row is matched on
 * its hashed body. Rows that only collide are skipped; a workspace full of
 * them costs at most this many reads per call, never an unbounded scan.
 */
const MAX_SCANS = 8;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;
/** A JavaScript Date's range (ms from the epoch); a number beyond it is no date. */
const isTime = (ms: number): boolean => Number.isFinite(ms) && Math.abs(ms) <= 8.64e15;

/** The store query for validated options and the exact target to match, or InvalidInput. */
export function parseQuery(
  options: QueryOptions,
  workspaceId: string,
): Result<{ store: StoreQuery; target?: { type: string; id: string } }, AuditError> {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) return err(invalidInput("limit must be 1..1000"));
  // Exactly these two: the Postgres store turns them into fixed SQL, and any other value (even "ASC")
  // would page the memory store backwards forever.
  const order = options.order === undefined ? "desc" : options.order;
  if (order !== "asc" && order !== "desc") return err(invalidInput('order must be "asc" or "desc"'));
  let afterSeq: number | undefined;
  if (options.cursor !== undefined) {
    if (typeof options.cursor !== "string" || !/^[0-9]{1,15}$/.test(options.cursor)) return err(invalidInput("bad cursor"));
    afterSeq = Number(options.cursor);
  }
  const { actor, target } = options;
  if (actor !== undefined && !isObject(actor)) return err(invalidInput("actor must be { type?, id? }"));
  if (target !== undefined && (!isObject(target) || !isStorableText(target.type) || !isStorableText(target.id))) {
    return err(invalidInput("target must be { type, id }: both strings without U+0000 or lone surrogates"));
  }
  const filters = [actor?.type, actor?.id, options.action];
  if (filters.some((f) => f !== undefined && !isStorableText(f))) {
    return err(invalidInput("actor, action and target filters must be strings without U+0000 or lone surrogates"));
  }
  const sinceMs = options.since === undefined ? undefined : timeOf(options.since);
  const untilMs = options.until === undefined ? undefined : timeOf(options.until);
  if ((sinceMs !== undefined && !isTime(sinceMs)) || (untilMs !== undefined && !isTime(untilMs))) {
    return err(invalidInput("since/until must be valid dates"));
  }
  return ok({
    store: {
      workspaceId,
      order,
      limit,
      ...(actor?.type !== undefined ? { actorType: actor.type } : {}),
      ...(actor?.id !== undefined ? { actorId: actor.id } : {}),
      ...(options.action !== undefined ? { action: options.action } : {}),
      ...(target !== undefined ? { target: targetKey(target.type, target.id) } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
      ...(untilMs !== undefined ? { untilMs } : {}),
      ...(afterSeq !== undefined ? { afterSeq } : {}),
    },
    ...(target !== undefined ? { target: { type: target.type, id: target.id } } : {}),
  });
}

/** One page: store pages are read until `limit` entries match exactly, the rows end, or MAX_SCANS. */
export async function runQuery(
  store: AuditStore,
  query: StoreQuery,
  target: { type: string; id: string } | undefined,
): Promise<Result<QueryPage, AuditError>> {
  const entries: AuditEntry[] = [];
  let afterSeq = query.afterSeq;
  for (let scan = 1; ; scan++) {
    const rows = await store.query(afterSeq === undefined ? query : { ...query, afterSeq });
    if (rows.isErr()) return err(rows.error);
    for (const row of rows.value) {
      const entry = toAuditEntry(row);
      // A row that cannot be read stays in (flagged `corrupt`): its column matched, and hiding it would hide the damage.
      if (target !== undefined && entry.corrupt === undefined && !entry.targets.some((t) => t.type === target.type && t.id === target.id)) continue;
      entries.push(entry);
      if (entries.length === query.limit) return ok({ entries, nextCursor: String(row.seq) });
    }
    const last = rows.value[rows.value.length - 1];
    if (last === undefined || rows.value.length < query.limit) return ok({ entries });
    afterSeq = last.seq;
    if (scan === MAX_SCANS) return ok({ entries, nextCursor: String(afterSeq) });
  }
}
