import { bigint, customType, integer, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * A bytea column's value. Named so the emitted declarations say `Bytes`:
 * spelled out, TypeScript 5.7+ writes `Uint8Array<ArrayBufferLike>`, which
 * TypeScript 5.6 (Dittofeed's) rejects as not generic.
 */
export type Bytes = Uint8Array;

const bytea = customType<{ data: Bytes; driverData: Bytes }>({ dataType: () => "bytea" });

/**
 * Wrapped data keys, one row per workspace and key version. Add it to your
 * drizzle schema (and migrations) as Dittofeed does its own tables.
 * `wrapped_key` is NULL once the workspace is crypto-shredded.
 */
export const tenancyDataKeys = pgTable(
  "tenancy_data_keys",
  {
    workspaceId: uuid("workspace_id").notNull(),
    version: bigint("version", { mode: "number" }).notNull(),
    wrappedKey: bytea("wrapped_key"),
    rootKeyId: text("root_key_id").notNull(),
    state: text("state", { enum: ["active", "retired", "destroyed"] }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.workspaceId, table.version] })],
);

/** Crypto-shred tombstones: who destroyed a workspace's keys and when. Kept for audit. */
export const tenancyKeyTombstones = pgTable("tenancy_key_tombstones", {
  workspaceId: uuid("workspace_id").primaryKey(),
  destroyedAt: timestamp("destroyed_at", { withTimezone: true, mode: "date" }).notNull(),
  destroyedBy: text("destroyed_by").notNull(),
  versionsDestroyed: integer("versions_destroyed").notNull(),
});
