/**
 * The reviewed exception list: tables that carry no workspace column on
 * purpose. Each entry says why, so a reviewer can tell a deliberate global
 * table from a forgotten tenant table; the catalog check reports any table
 * that is in neither group.
 */
export type GlobalTableReason = "global" | "membership" | "scoped-through-parent" | "deprecated";

export interface GlobalTable {
  readonly name: string;
  readonly schema?: string;
  readonly reason: GlobalTableReason;
  /** Free text for the reviewer. */
  readonly note?: string;
}

/** Dittofeed's five tables without `workspaceId`, reviewed. */
export const DITTOFEED_GLOBAL_TABLES: readonly GlobalTable[] = [
  { name: "Workspace", reason: "global", note: "the tenants themselves; id is the workspace id" },
  { name: "WorkspaceMember", reason: "membership", note: "a person, across workspaces (unique email)" },
  { name: "WorkspaceMembeAccount", reason: "membership", note: "login accounts of a member" },
  { name: "UserJourneyEvent", reason: "scoped-through-parent", note: "keyed by journeyId; the journey is tenant-scoped" },
  { name: "WorkspaceRelation", reason: "deprecated", note: "replaced by Workspace.parentWorkspaceId" },
];
