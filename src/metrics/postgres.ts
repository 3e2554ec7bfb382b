/**
 * tenancykit/metrics/postgres: the drizzle definitions of the usage tables
 * (add them to your schema for migrations) and the idempotent flusher.
 * This entry loads drizzle-orm; `tenancykit/metrics` does not.
 */
import { doublePrecision, integer, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { FLUSH_TABLE, USAGE_TABLE } from "./flush-sql.js";

/** Per-workspace usage per metric and window: `value` is the usage inside the window. */
export const tenancyMetricUsage = pgTable(
  USAGE_TABLE,
  {
    workspaceId: uuid("workspace_id").notNull(),
    metric: text("metric").notNull(),
    windowStart: timestamp("window_start", { withTimezone: true }).notNull(),
    value: doublePrecision("value").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.metric, t.windowStart] })],
);

/** The flush ledger: one row per applied batch, so a retried batch is skipped. */
export const tenancyMetricFlushes = pgTable(FLUSH_TABLE, {
  flushId: text("flush_id").primaryKey(),
  rows: integer("rows").notNull(),
  flushedAt: timestamp("flushed_at", { withTimezone: true }).notNull().defaultNow(),
});

export { METRICS_MIGRATION_SQL } from "./flush-sql.js";
export { UsageFlusher, type FlushReport, type UsageFlusherOptions } from "./flusher.js";
