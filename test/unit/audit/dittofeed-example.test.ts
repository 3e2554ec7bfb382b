import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { ok } from "neverthrow";
import { describe, expect, it } from "vitest";
import { audit, auditAdminKeyUse, auditSecretChange, upsertJourneyAudited, verifyWorkspaces } from "../../../examples/dittofeed/audit.js";

describe("the Dittofeed audit example, on PGlite", () => {
  it("records journey upserts (once per request), secret changes and admin key use, and they verify", async () => {
    const lines: object[] = [];
    const logger = { info: (obj: object) => void lines.push(obj) };
    const auditLogger = await audit(new PGlite(), logger);
    const workspaceId = randomUUID();
    const ctx = { workspace: { id: workspaceId }, member: { id: "member-1", email: "ana@example.com" } };
    const meta = { requestId: "req-1", ip: "203.0.113.4", userAgent: "dashboard" };
    const upsertJourney = async (p: { workspaceId: string; name: string; id?: string }) =>
      ok({ id: p.id ?? "journey-1", workspaceId: p.workspaceId, name: p.name, status: "NotStarted", updatedAt: 0 });
    const first = (await upsertJourneyAudited({ audit: auditLogger, upsertJourney }, { workspaceId, name: "Welcome" }, ctx, meta))._unsafeUnwrap();
    (await upsertJourneyAudited({ audit: auditLogger, upsertJourney }, { workspaceId, name: "Welcome" }, ctx, meta))._unsafeUnwrap(); // a retried request
    expect(first.name).toBe("Welcome");
    expect((await auditSecretChange(auditLogger, { workspaceId, secretName: "sendgrid", change: "rotated", ctx, meta: { ...meta, requestId: "req-2" } }))._unsafeUnwrap()).toBe(2);
    (await auditAdminKeyUse(auditLogger, { workspaceId, keyId: "key-9", route: "/api/admin/journeys", accepted: false, meta: { ...meta, requestId: "req-3" } }))._unsafeUnwrap();
    const page = (await auditLogger.query({ workspaceId, order: "asc" }))._unsafeUnwrap();
    expect(page.entries.map((e) => [e.seq, e.action, e.outcome.status])).toEqual([
      [1, "journey.created", "success"],
      [2, "secret.rotated", "success"],
      [3, "admin_api_key.used", "failure"],
    ]);
    expect(await verifyWorkspaces(auditLogger, [workspaceId], logger)).toBe(0);
    expect(JSON.stringify(lines)).not.toContain("ana@example.com");
    expect(JSON.stringify(lines)).not.toContain("203.0.113.4");
    await auditLogger.close();
  });
});
