import { PGlite } from "@electric-sql/pglite";
import { AuditLogger } from "../../audit/logger.js";
import { migrateAuditTables, postgresAuditStore } from "../../audit/postgres.js";
import { signerFromSeed } from "../../audit/signing.js";
import type { DemoContext } from "./context.js";

/**
 * AuditLogger on PGlite (real Postgres in WASM): append events for three
 * workspaces, tamper with a row by SQL, and watch verify name the exact seq.
 */
export async function auditSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("audit: tamper-evident per-workspace log on PGlite");
  const db = new PGlite();
  (await migrateAuditTables(db))._unsafeUnwrap();
  // A fixed demo key (TENANCY_AUDIT_SIGNING_KEY in production; never stored in the database).
  const signer = signerFromSeed(new Uint8Array(32).fill(42));
  const audit = new AuditLogger({ store: postgresAuditStore(db)._unsafeUnwrap(), signer, checkpoints: { everyEvents: 4 } });
  const member = { type: "member", id: "member-ana", display: "ana@acme.example" };
  const child = workspaces.child;
  const events = [
    { workspaceId: child, actor: member, action: "journey.created", targets: [{ type: "journey", id: "welcome" }], metadata: { status: "NotStarted" } },
    { workspaceId: child, actor: member, action: "journey.updated", targets: [{ type: "journey", id: "welcome" }], metadata: { status: "Running" } },
    { workspaceId: child, actor: member, action: "secret.rotated", targets: [{ type: "secret", id: "sendgrid" }] },
    { workspaceId: child, actor: { type: "admin_api_key", id: "key-7" }, action: "admin_api_key.used", targets: [{ type: "route", id: "/api/admin/journeys" }] },
    { workspaceId: child, actor: member, action: "journey.updated", targets: [{ type: "journey", id: "welcome" }], metadata: { status: "Paused" } },
    { workspaceId: workspaces.parent, actor: member, action: "workspace.child_created", targets: [{ type: "workspace", id: child }] },
    { workspaceId: workspaces.other, actor: { type: "system", id: "scheduler" }, action: "segment.recomputed", metadata: { users: 1204 } },
  ];
  const receipts = await Promise.all(events.map((e) => audit.append({ ...e, context: { requestId: "req-1", ip: "203.0.113.7" } })));
  report.line(`${receipts.filter((r) => r.isOk()).length} events appended in one group commit; each append resolved after COMMIT`);
  const retry = await audit.append({ ...(events[0] as (typeof events)[number]), idempotencyKey: "req-42" });
  const again = await audit.append({ ...(events[0] as (typeof events)[number]), idempotencyKey: "req-42" });
  report.line(`a retried request with the same idempotency key is stored once: seq ${retry.isOk() ? retry.value.seq : "?"}, then duplicate=${again.isOk() && again.value.duplicate}`);
  const bad = await audit.append({ workspaceId: child, action: "journey.updated" } as never);
  report.line(`a bad event is a typed error and writes nothing: ${bad.isErr() ? `${bad.error.type}: ${bad.error.message}` : "accepted?!"}`);

  const page = (await audit.query({ workspaceId: child, order: "asc" }))._unsafeUnwrap();
  report.line(`${names[child] ?? child}'s chain:`);
  report.table([
    ["seq", "action", "actor", "hash"],
    ...page.entries.map((e) => [e.seq, e.action, `${e.actor.type}:${e.actor.id}`, `${e.hash.slice(0, 16)}…`]),
  ]);
  await audit.checkpoint({ workspaceId: child });
  const checkpoints = (await audit.checkpoints({ workspaceId: child }))._unsafeUnwrap();
  report.line(`signed checkpoints (Ed25519, key ${signer.keyId}): ${checkpoints.map((c) => `seq ${c.seq}`).join(", ")}`);
  const clean = (await audit.verify({ workspaceId: child }))._unsafeUnwrap();
  report.line(`verify: ${clean.ok ? "ok" : "DAMAGED"}, ${clean.entries} entries, ${clean.checkpoints} checkpoints checked`);

  report.line(`someone with database access edits seq 2 ("Running" -> "Paused") by SQL...`);
  await db.query(`update audit_entry set body = replace(body, '"Running"', '"Paused"') where workspace_id = $1 and seq = 2`, [child]);
  const tampered = (await audit.verify({ workspaceId: child }))._unsafeUnwrap();
  report.line(`verify: ${tampered.damage ? `${tampered.damage.kind} at seq ${tampered.damage.seq}: ${tampered.damage.message}` : "ok?!"}`);
  await db.query(`update audit_entry set body = replace(body, '"Paused"', '"Running"') where workspace_id = $1 and seq = 2`, [child]);
  report.line(`...and deletes seq 4 instead:`);
  await db.query(`delete from audit_entry where workspace_id = $1 and seq = 4`, [child]);
  const deleted = (await audit.verify({ workspaceId: child }))._unsafeUnwrap();
  report.line(`verify: ${deleted.damage ? `${deleted.damage.kind} at seq ${deleted.damage.seq}: ${deleted.damage.message}` : "ok?!"}`);

  const erased = (await audit.erase({ workspaceId: workspaces.parent, actorId: "member-ana" }))._unsafeUnwrap();
  const afterErase = (await audit.verify({ workspaceId: workspaces.parent }))._unsafeUnwrap();
  report.line(`GDPR erasure of member-ana in ${names[workspaces.parent] ?? ""}: ${erased} entry erased, chain still ${afterErase.ok ? "verifies" : "BROKEN"} (${afterErase.erased} erased, commitments kept)`);
  let bytes = 0;
  const manifest = (await audit.exportLog({ workspaceId: workspaces.other, format: "ndjson", write: (c) => void (bytes += c.length) }))._unsafeUnwrap();
  report.line(`NDJSON export of ${names[workspaces.other] ?? ""}: ${manifest.count} entries, ${bytes} bytes, sha256 ${manifest.sha256.slice(0, 16)}…, head ${manifest.headHash?.slice(0, 16)}…`);
  await audit.close();
  await db.close();
}
