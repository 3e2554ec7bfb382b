import type { JsonValue } from "./canonical.js";

/** Who acted: a workspace member, an admin API key, a write key, the system. */
export interface AuditActor {
  /** e.g. `member`, `admin_api_key`, `write_key`, `system`. */
  readonly type: string;
  readonly id: string;
  /** A human label (an email, a name). Personal: stored beside a salted commitment, erasable. */
  readonly display?: string;
}

/** What was acted on: `{ type: "journey", id }`. */
export interface AuditTarget {
  readonly type: string;
  readonly id: string;
}

export interface AuditOutcome {
  readonly status: "success" | "failure";
  readonly reason?: string;
}

/** Where the request came from. `ip` and `userAgent` are personal (erasable). */
export interface AuditContext {
  readonly requestId?: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

/**
 * One audit event as the caller describes it. Maps to OCSF API Activity
 * (class 6003); see docs/audit.md.
 */
export interface AuditEventInput {
  readonly workspaceId: string;
  readonly actor: AuditActor;
  /** Dotted, lower-case: `journey.updated`, `secret.rotated`, `admin_api_key.used`. */
  readonly action: string;
  readonly targets?: readonly AuditTarget[];
  /** Defaults to `{ status: "success" }`. */
  readonly outcome?: AuditOutcome;
  readonly context?: AuditContext;
  /** Free-form, non-personal details (size-capped, canonical JSON). */
  readonly metadata?: Readonly<Record<string, JsonValue>>;
  /** Personal details (emails, names): stored beside salted commitments so they can be erased. */
  readonly personal?: Readonly<Record<string, JsonValue>>;
  /** When it happened; defaults to the logger's clock. Date, epoch ms or ISO string. */
  readonly occurredAt?: Date | number | string;
  /** The same key within a workspace is stored once; a repeat returns the first receipt. */
  readonly idempotencyKey?: string;
}

/** The event without its workspace, for a bound `audit.workspace(id)` handle. */
export type WorkspaceAuditEvent = Omit<AuditEventInput, "workspaceId">;

/** A personal value and the salt of its commitment, as stored beside the chained row. */
export interface PersonalValue {
  readonly value: JsonValue;
  /** Hex, 16 bytes. Erasing the value erases the salt, so the commitment reveals nothing. */
  readonly salt: string;
}

/** Columns that are copies of body fields so stores can filter without parsing; verify checks them. */
export interface AuditIndexColumns {
  readonly actorType: string;
  readonly actorId: string;
  readonly action: string;
  readonly outcome: "success" | "failure";
  readonly occurredAtMs: number;
  /** `type:id` per target. */
  readonly targets: readonly string[];
}

/**
 * A validated event, ready to chain: `body` is its canonical JSON (what the
 * hash covers, with commitments in place of personal values), computed before
 * any lock is taken so the critical section only hashes.
 */
export interface PreparedEvent {
  readonly workspaceId: string;
  readonly idempotencyKey: string | null;
  readonly body: string;
  readonly personal: Readonly<Record<string, PersonalValue>> | null;
  /**
   * `personal` as JSON text (what a store's jsonb column takes), built while
   * preparing from pieces already serialised; absent on hand-made events,
   * whose stores serialise `personal` themselves.
   */
  readonly personalJson?: string | null;
  readonly index: AuditIndexColumns;
}

/** A stored, chained entry as stores return it. */
export interface StoredEntry {
  readonly workspaceId: string;
  readonly seq: number;
  readonly recordedAtMs: number;
  readonly prevHash: Uint8Array;
  readonly hash: Uint8Array;
  readonly body: string;
  /** Null once erased (or when the event had no personal fields). */
  readonly personal: Readonly<Record<string, PersonalValue>> | null;
  readonly idempotencyKey: string | null;
  readonly index: AuditIndexColumns;
}

/** What `append` resolves with once the entry is committed. */
export interface AppendReceipt {
  readonly workspaceId: string;
  readonly seq: number;
  /** Hex SHA-256 of the entry. */
  readonly hash: string;
  readonly recordedAt: Date;
  /** True when the idempotency key was already stored; the receipt is the first one's. */
  readonly duplicate: boolean;
}
