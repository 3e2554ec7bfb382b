import { randomBytes } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { parseEnvelope, TenantCipher, fromText } from "../../crypto/index.js";
import { migrateKeyStore, postgresKeyStore } from "../../crypto/postgres.js";
import type { DemoContext } from "./context.js";

/**
 * TenantCipher on the embedded defaults: a root key generated for the demo,
 * the Postgres key store on PGlite, then per-workspace secrets, a
 * cross-workspace decrypt that fails, a rotation with reencrypt, a blind
 * index and a crypto-shred.
 */
export async function cryptoSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("crypto: per-workspace envelope encryption (TenantCipher)");
  const db = new PGlite();
  const migrated = await migrateKeyStore(db);
  if (migrated.isErr()) {
    report.line(`key store unavailable: ${migrated.error.message}`);
    return;
  }
  // In production the root keys come from TENANCY_ROOT_KEYS; the demo makes a throwaway one.
  const cipher = new TenantCipher({
    rootKeys: `demo-root:${randomBytes(32).toString("base64")}`,
    store: postgresKeyStore(db),
  });
  const purpose = "secret:sendgrid";
  const name = (id: string) => names[id as keyof typeof names] ?? id;
  const secrets = new Map<string, string>();
  for (const workspaceId of [workspaces.parent, workspaces.child, workspaces.other]) {
    const sealed = await cipher.encryptText({ workspaceId, purpose, plaintext: `SG.${name(workspaceId).replace(/\W+/g, "")}-api-key` });
    if (sealed.isErr()) return report.line(`encrypt failed: ${sealed.error.message}`);
    secrets.set(workspaceId, sealed.value);
  }
  report.line(`Secret.value for each workspace, stored as text (${cipher.suite}, 46 bytes of overhead):`);
  report.table([
    ["workspace", "stored value (first 40 chars)", "key version"],
    ...[...secrets].map(([id, value]) => [name(id), `${value.slice(0, 40)}…`, String(keyVersionOf(value))]),
  ]);
  const parentSecret = secrets.get(workspaces.parent) ?? "";
  const own = await cipher.decryptText({ workspaceId: workspaces.parent, purpose, ciphertext: parentSecret });
  report.line(`${name(workspaces.parent)} reads its own secret: ${own.isOk() ? own.value : own.error.type}`);
  const stolen = await cipher.decryptText({ workspaceId: workspaces.other, purpose, ciphertext: parentSecret });
  report.line(`${name(workspaces.other)} tries the same ciphertext: ${stolen.isErr() ? `${stolen.error.type} (workspace is bound as associated data)` : "decrypted?!"}`);
  const wrongPurpose = await cipher.decryptText({ workspaceId: workspaces.parent, purpose: "secret:twilio", ciphertext: parentSecret });
  report.line(`same workspace, other purpose: ${wrongPurpose.isErr() ? wrongPurpose.error.type : "decrypted?!"}`);

  const rotated = await cipher.rotate({ workspaceId: workspaces.parent });
  if (rotated.isErr()) return report.line(`rotate failed: ${rotated.error.message}`);
  const rows = [...secrets].map(([workspaceId, value]) => ({ workspaceId, purpose, value }));
  const before = await cipher.keyVersionsInUse({ rows });
  if (before.isOk()) report.line(`rotated ${name(workspaces.parent)} to key v${rotated.value.version}; rows on an old version: ${before.value.stale}`);
  const stats = await cipher.reencrypt({
    rows,
    write: (updates) => {
      for (const { row, value } of updates) secrets.set(row.workspaceId, value as string);
    },
  });
  if (stats.isOk()) report.line(`reencrypt: ${stats.value.reencrypted} re-encrypted, ${stats.value.upToDate} already current`);
  report.line(`${name(workspaces.parent)}'s secret is now on key v${keyVersionOf(secrets.get(workspaces.parent) ?? "")}`);

  const email = "ada@example.com";
  const indexes = await Promise.all(
    [workspaces.parent, workspaces.other].map((workspaceId) => cipher.blindIndex({ workspaceId, purpose: "user.email", value: email, bits: 64 })),
  );
  report.line(`blind index of ${email} (64 bits) in two workspaces: ${indexes.map((r) => (r.isOk() ? r.value : r.error.type)).join(" vs ")}`);

  const tombstone = await cipher.destroy({ workspaceId: workspaces.other, by: "gdpr-erasure-request" });
  if (tombstone.isErr()) return report.line(`destroy failed: ${tombstone.error.message}`);
  const afterShred = await cipher.decryptText({ workspaceId: workspaces.other, purpose, ciphertext: secrets.get(workspaces.other) ?? "" });
  report.line(
    `crypto-shredded ${name(workspaces.other)} (by ${tombstone.value.destroyedBy}, ${tombstone.value.versionsDestroyed} key version): decrypt -> ${afterShred.isErr() ? afterShred.error.type : "decrypted?!"}`,
  );
  const unaffected = await cipher.decryptText({ workspaceId: workspaces.child, purpose, ciphertext: secrets.get(workspaces.child) ?? "" });
  report.line(`${name(workspaces.child)} is unaffected: ${unaffected.isOk() ? unaffected.value : unaffected.error.type}`);
  await db.close();
}

function keyVersionOf(text: string): number | string {
  const bytes = fromText(text);
  if (bytes.isErr()) return "?";
  const envelope = parseEnvelope(bytes.value);
  return envelope.isOk() ? envelope.value.keyVersion : "?";
}
