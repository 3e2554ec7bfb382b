import { parseWorkspaceId, type WorkspaceId } from "../../core/workspace-id.js";
import type { DemoReport } from "./report.js";

/**
 * The scenario every demo section shares: a parent workspace (an agency), its
 * child (one of the agency's clients), and an unrelated workspace.
 */
export interface DemoWorkspaces {
  readonly parent: WorkspaceId;
  readonly child: WorkspaceId;
  readonly other: WorkspaceId;
}

export interface DemoContext {
  readonly report: DemoReport;
  readonly workspaces: DemoWorkspaces;
  readonly names: Readonly<Record<WorkspaceId, string>>;
}

export type DemoSection = (context: DemoContext) => Promise<void>;

function fixedId(text: string): WorkspaceId {
  const parsed = parseWorkspaceId(text);
  if (parsed.isErr()) throw new Error(parsed.error.message);
  return parsed.value;
}

export function demoWorkspaces(): DemoWorkspaces {
  return {
    parent: fixedId("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01"),
    child: fixedId("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e02"),
    other: fixedId("c9f0f895-fb98-4b91-8a3e-5f6a7b8c9d03"),
  };
}
