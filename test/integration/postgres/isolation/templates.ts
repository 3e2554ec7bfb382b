import { randomUUID } from "node:crypto";

/**
 * One row template per fixture tenant table: the columns a row needs, given
 * its workspace, a suffix that keeps unique keys apart, and the workspace's
 * parent rows (the rows its foreign keys point to).
 */
export interface Parents {
  readonly Secret: string;
  readonly Segment: string;
  readonly UserProperty: string;
  readonly EmailProvider: string;
  readonly SmsProvider: string;
}
export interface Members {
  readonly seed: string;
  readonly extra: string;
}
export type Row = Record<string, unknown>;
export type Template = (ws: string, suffix: string, parents: Parents, members: Members) => Row;

const named: Template = (ws, s) => ({ id: randomUUID(), workspaceId: ws, name: `n-${s}` });

export const TEMPLATES: Record<string, Template> = {
  Secret: named,
  Segment: named,
  Journey: named,
  MessageTemplate: named,
  UserProperty: named,
  Integration: named,
  OauthToken: named,
  AdminApiKey: named,
  Feature: named,
  ComponentConfiguration: named,
  EmailProvider: (ws, s, p) => ({ id: randomUUID(), workspaceId: ws, type: `t-${s}`, secretId: p.Secret }),
  SmsProvider: (ws, s, p) => ({ id: randomUUID(), workspaceId: ws, type: `t-${s}`, secretId: p.Secret }),
  SegmentIOConfiguration: (ws, s) => ({ id: randomUUID(), workspaceId: ws, sharedSecret: `shh-${s}` }),
  DefaultEmailProvider: (ws, s, p) => ({ workspaceId: ws, emailProviderId: p.EmailProvider, fromAddress: `${s}@example.com` }),
  DefaultSmsProvider: (ws, _s, p) => ({ workspaceId: ws, smsProviderId: p.SmsProvider }),
  SubscriptionManagementTemplate: (ws, s) => ({ id: randomUUID(), workspaceId: ws, template: `tpl-${s}` }),
  SubscriptionGroup: (ws, s) => ({ id: randomUUID(), workspaceId: ws, name: `g-${s}`, type: "OptIn", channel: "Email" }),
  Broadcast: (ws, s, p) => ({ id: randomUUID(), workspaceId: ws, name: `b-${s}`, segmentId: p.Segment }),
  UserPropertyAssignment: (ws, s, p) => ({ workspaceId: ws, userPropertyId: p.UserProperty, userId: `u-${s}`, value: "v" }),
  SegmentAssignment: (ws, s, p) => ({ workspaceId: ws, userId: `u-${s}`, segmentId: p.Segment, inSegment: true }),
  WorkspaceMemberRole: (ws, s, _p, m) => ({ workspaceId: ws, workspaceMemberId: s === "seed" ? m.seed : m.extra, role: "Admin" }),
  WriteKey: (ws, _s, p) => ({ id: randomUUID(), workspaceId: ws, secretId: p.Secret }),
  WorkspaceOccupantSetting: (ws, s) => ({ workspaceId: ws, name: `n-${s}`, occupantId: `o-${s}`, occupantType: "Member" }),
  ComputedPropertyPeriod: (ws, s) => ({
    id: randomUUID(), workspaceId: ws, type: "Segment", computedPropertyId: randomUUID(), version: s, to: new Date(), step: "s",
  }),
  EmailTemplate: (ws, s) => ({ id: randomUUID(), workspaceId: ws, name: `e-${s}`, from: "a@b.c", subject: "s", body: "b" }),
  UserPropertyIndex: (ws, _s, p) => ({ id: randomUUID(), workspaceId: ws, userPropertyId: p.UserProperty, type: "String" }),
};

/** Parent tables first, so foreign keys resolve while seeding. */
export const PARENT_TABLES = ["Secret", "Segment", "UserProperty", "EmailProvider", "SmsProvider"] as const;

/** `insert into "T" ("a", "b") values ($1, $2)` and its parameters. */
export function insertStatement(table: string, row: Row, tail = ""): { text: string; params: unknown[] } {
  const columns = Object.keys(row);
  const text = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) values (${columns
    .map((_, i) => `$${i + 1}`)
    .join(", ")}) ${tail}`;
  return { text, params: Object.values(row) };
}
