import { bigint, customType, index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });

/**
 * Drizzle definitions of the audit tables, to add to an application's drizzle
 * schema (Dittofeed: packages/backend-lib/src/db/schema.ts). Create them with
 * `AUDIT_MIGRATION_SQL` (or `migrateAuditTables`): `audit_entry` is monthly
 * partitioned, which drizzle-kit cannot generate.
 */
export const auditHead = pgTable("audit_head", {
  workspaceId: uuid("workspace_id").primaryKey(),
  seq: bigint("seq", { mode: "number" }).notNull().default(0),
  hash: bytea("hash").notNull(),
  recordedAtMs: bigint("recorded_at_ms", { mode: "number" }).notNull().default(0),
});

export const auditEntry = pgTable(
  "audit_entry",
  {
    workspaceId: uuid("workspace_id").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    recordedAt: timestamp("recorded_at", { withTimezone: true, precision: 3 }).notNull(),
    prevHash: bytea("prev_hash").notNull(),
    hash: bytea("hash").notNull(),
    body: text("body").notNull(),
    personal: jsonb("personal"),
    idempotencyKey: text("idempotency_key"),
    actorType: text("actor_type").notNull(),
    actorId: text("actor_id").notNull(),
    action: text("action").notNull(),
    outcome: text("outcome").notNull(),
    occurredAt: timestamp("occurred_at", { withTimezone: true, precision: 3 }).notNull(),
    targets: jsonb("targets").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.workspaceId, t.seq, t.recordedAt] }),
    index("audit_entry_actor_idx").on(t.workspaceId, t.actorId, t.seq),
    index("audit_entry_action_idx").on(t.workspaceId, t.action, t.seq),
  ],
);

export const auditIdempotency = pgTable(
  "audit_idempotency",
  {
    workspaceId: uuid("workspace_id").notNull(),
    key: text("key").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    hash: bytea("hash").notNull(),
    recordedAtMs: bigint("recorded_at_ms", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.key] })],
);

export const auditCheckpoint = pgTable(
  "audit_checkpoint",
  {
    workspaceId: uuid("workspace_id").notNull(),
    seq: bigint("seq", { mode: "number" }).notNull(),
    headHash: text("head_hash").notNull(),
    signedAt: text("signed_at").notNull(),
    keyId: text("key_id").notNull(),
    signature: text("signature").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.seq] })],
);

export const auditPrune = pgTable(
  "audit_prune",
  {
    workspaceId: uuid("workspace_id").notNull(),
    throughSeq: bigint("through_seq", { mode: "number" }).notNull(),
    hash: text("hash").notNull(),
    partition: text("partition").notNull(),
    prunedAt: text("pruned_at").notNull(),
    keyId: text("key_id").notNull(),
    signature: text("signature").notNull(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.throughSeq] })],
);
