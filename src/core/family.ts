import type { WorkspaceId } from "./workspace-id.js";

/**
 * A workspace and, for a child, its parent. Dittofeed nests one level
 * (Parent → Child), so the root of a family is the parent when there is one.
 */
export interface WorkspaceFamily {
  readonly workspaceId: WorkspaceId;
  readonly parentWorkspaceId?: WorkspaceId | undefined;
}

/** The root workspace of a family: the parent for a child, else the workspace itself. */
export function familyRoot(family: WorkspaceFamily): WorkspaceId {
  return family.parentWorkspaceId ?? family.workspaceId;
}
