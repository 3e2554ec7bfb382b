import { bigint, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Quota state, one row per (workspace, limit). `root_workspace_id` leads the
 * key so a family's rows stay together (and Citus can distribute by it, like
 * Redis Cluster hashes by the family tag). `state` is the same JSON the
 * memory store's algorithms read and write.
 */
export const tenancyQuotaState = pgTable(
  "tenancy_quota_state",
  {
    rootWorkspaceId: uuid("root_workspace_id").notNull(),
    workspaceId: uuid("workspace_id").notNull(),
    limitName: text("limit_name").notNull(),
    state: jsonb("state"),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.rootWorkspaceId, t.workspaceId, t.limitName] })],
);

/** Plan assignments and overrides per workspace, read by `PostgresPolicySource`. */
export const tenancyQuotaPolicy = pgTable("tenancy_quota_policy", {
  workspaceId: uuid("workspace_id").primaryKey(),
  plan: text("plan"),
  overrides: jsonb("overrides"),
  parentWorkspaceId: uuid("parent_workspace_id"),
  version: bigint("version", { mode: "number" }).notNull().default(0),
});

/** The DDL for both tables (what drizzle-kit generates for the definitions above). */
export const QUOTA_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS "tenancy_quota_state" (
  "root_workspace_id" uuid NOT NULL,
  "workspace_id" uuid NOT NULL,
  "limit_name" text NOT NULL,
  "state" jsonb,
  "updated_at" timestamp with time zone DEFAULT now() NOT NULL,
  CONSTRAINT "tenancy_quota_state_pk" PRIMARY KEY ("root_workspace_id", "workspace_id", "limit_name")
);
CREATE TABLE IF NOT EXISTS "tenancy_quota_policy" (
  "workspace_id" uuid PRIMARY KEY NOT NULL,
  "plan" text,
  "overrides" jsonb,
  "parent_workspace_id" uuid,
  "version" bigint DEFAULT 0 NOT NULL
);
`;
