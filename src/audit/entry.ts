import type { JsonValue } from "./canonical.js";
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
}

interface Body {
  action: string;
  actor: { type: string; id: string };
  targets: { type: string; id: string }[];
  outcome: { status: "success" | "failure"; reason?: string };
  context: { requestId?: string };
  metadata: Record<string, JsonValue>;
  occurredAt: string;
  idempotencyKey?: string;
  commitments: Record<string, string>;
}

export function toAuditEntry(row: StoredEntry): AuditEntry {
  const body = JSON.parse(row.body) as Body;
  const actor: { type: string; id: string; display?: string } = { ...body.actor };
  const context: { requestId?: string; ip?: string; userAgent?: string } = { ...body.context };
  const personal: Record<string, JsonValue> = {};
  for (const [path, stored] of Object.entries(row.personal ?? {})) {
    if (path === "actor.display" && typeof stored.value === "string") actor.display = stored.value;
    else if (path === "context.ip" && typeof stored.value === "string") context.ip = stored.value;
    else if (path === "context.userAgent" && typeof stored.value === "string") context.userAgent = stored.value;
    else if (path.startsWith("personal.")) personal[path.slice(9)] = stored.value;
  }
  return {
    workspaceId: row.workspaceId,
    seq: row.seq,
    recordedAt: new Date(row.recordedAtMs).toISOString(),
    hash: Buffer.from(row.hash).toString("hex"),
    prevHash: Buffer.from(row.prevHash).toString("hex"),
    action: body.action,
    actor,
    targets: body.targets,
    outcome: body.outcome,
    context,
    metadata: body.metadata,
    ...(Object.keys(personal).length > 0 ? { personal } : {}),
    occurredAt: body.occurredAt,
    ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
    erased: row.personal === null && Object.keys(body.commitments).length > 0,
  };
}
