/**
 * tenancykit/postgres: row level security generated from one declaration,
 * workspace-scoped transactions, a start-up role check, catalog checks and a
 * per-workspace fair pool. drizzle-specific helpers (pgPolicy definitions, a
 * drizzle `tx`) live in tenancykit/postgres/drizzle.
 */
export {
  CURRENT_WORKSPACE_SQL,
  POLICY_COMMANDS,
  READ_WORKSPACES_SETTING,
  READ_WORKSPACES_SQL,
  WORKSPACE_SETTING,
  policySpecs,
  readGrantExpression,
  workspaceExpression,
  type PolicyCommand,
  type PolicyOptions,
  type PolicySpec,
} from "./policy.js";
export {
  policyMigrationSql,
  tablePolicyStatements,
  tableRevertStatements,
  type PolicyMigrationOptions,
} from "./migration.js";
export { DITTOFEED_GLOBAL_TABLES, type GlobalTable, type GlobalTableReason } from "./exceptions.js";
export { detectWorkspaceColumn, qualifiedName, quoteIdent, WORKSPACE_COLUMN_CANDIDATES, type TenantTable } from "./identifiers.js";
export { withWorkspace, type WithWorkspaceOptions } from "./with-workspace.js";
export { SET_CONTEXT_SQL } from "./begin-scoped.js";
export { AmbientWorkspace, ambientWorkspace, currentWorkspaceId, currentWorkspaceTx, runInWorkspace } from "./ambient.js";
export { assertAppRole, type AppRoleOptions, type AppRoleReport } from "./role.js";
export { checkTenancy, discoverTenantTables, type CheckOptions, type TenancyReport } from "./check.js";
export { hasUnwrappedCall, type Finding, type FindingType } from "./check-rules.js";
export { formatReport } from "./format-report.js";
export { FairPool, type FairConnection, type FairPoolMetrics, type FairPoolOptions, type FairPoolSource } from "./fair-pool.js";
export type { WorkspacePoolMetrics } from "./fair-scheduler.js";
export type { WaitSnapshot } from "./wait-stats.js";
export type {
  NoWorkspaceContextError,
  PoolClosedError,
  PoolQueueFullError,
  PoolTimeoutError,
  PostgresTenancyError,
  UnsafeAppRoleError,
} from "./errors.js";
