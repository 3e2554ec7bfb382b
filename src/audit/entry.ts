import type { JsonValue } from "./canonical.js";
import { parseBody, personalOpenings } from "./body.js";
import type { StoredEntry } from "./event.js";

/** An entry as `query` and `exportLog` return it: the event with personal values restored where not erased. */
export interface AuditEntry {
  readonly workspaceId: string;
  readonly seq: number;
  readonly recordedAt: string;
  readonly hash: string;
  readonly prevHash: string;
  readonly action: string;
  readonly actor: { readonly type: string; readonly id: string; readonly display?: string };
  readonly targets: readonly { readonly type: string; readonly id: string }[];
  readonly outcome: { readonly status: "success" | "failure"; readonly reason?: string };
  readonly context: { readonly requestId?: string; readonly ip?: string; readonly userAgent?: string };
  readonly metadata: Readonly<Record<string, JsonValue>>;
  readonly personal?: Readonly<Record<string, JsonValue>>;
  readonly occurredAt: string;
  readonly idempotencyKey?: string;
  /** True when personal values were erased (their commitments remain in the hashed body). */
  readonly erased: boolean;
  /**
   * Set when the stored row cannot be read (its body is not the JSON an
   * append writes, or its personal column has the wrong shape): someone edited
   * it. `action`, `actor`, `outcome` and `occurredAt` then come from the row's
   * query columns, which nothing vouches for, and `targets`, `context` and
   * `metadata` are empty; `verify` names the entry. Reported rather than
   * thrown so that query and export keep working on a damaged log.
   */
  readonly corrupt?: string;
}

/**
 * Sets an own property even for the key `__proto__`, which plain assignment
 * would take as the object's prototype (dropping the value silently).
 */
function setOwn(target: Record<string, JsonValue>, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** ISO text of an epoch-ms time, or "" for one no Date can hold (an edited timestamp column: `infinity`). */
function isoOrEmpty(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** Never throws: a row that cannot be read comes back flagged `corrupt` (see above). */
export function toAuditEntry(row: StoredEntry): AuditEntry {
  const common = {
    workspaceId: row.workspaceId,
    seq: row.seq,
    recordedAt: isoOrEmpty(row.recordedAtMs),
    hash: Buffer.from(row.hash).toString("hex"),
    prevHash: Buffer.from(row.prevHash).toString("hex"),
  };
  const body = parseBody(row.body);
  const openings = personalOpenings(row.personal);
  if (typeof body === "string" || typeof openings === "string" || common.recordedAt === "") {
    const problem = typeof body === "string" ? body : typeof openings === "string" ? openings : "the recorded-at is not a valid time";
    const ix = row.index;
    return {
      ...common,
      action: ix.action,
      actor: { type: ix.actorType, id: ix.actorId },
      targets: [],
      outcome: { status: ix.outcome },
      context: {},
      metadata: {},
      occurredAt: isoOrEmpty(ix.occurredAtMs),
      erased: false,
      corrupt: problem,
    };
  }
  const actor: { type: string; id: string; display?: string } = { type: body.actor.type, id: body.actor.id };
  const context: { requestId?: string; ip?: string; userAgent?: string } = { ...body.context };
  const personal: Record<string, JsonValue> = {};
  for (const [path, stored] of Object.entries(openings ?? {})) {
    if (path === "actor.display" && typeof stored.value === "string") actor.display = stored.value;
    else if (path === "context.ip" && typeof stored.value === "string") context.ip = stored.value;
    else if (path === "context.userAgent" && typeof stored.value === "string") context.userAgent = stored.value;
    else if (path.startsWith("personal.")) setOwn(personal, path.slice(9), stored.value);
  }
  return {
    ...common,
    action: body.action,
    actor,
    targets: body.targets,
    outcome: body.outcome,
    context,
    metadata: body.metadata,
    ...(Object.keys(personal).length > 0 ? { personal } : {}),
    occurredAt: body.occurredAt,
    ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
    erased: openings === null && Object.keys(body.commitments).length > 0,
  };
}
