import { createHash, randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { getTableConfig } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { createAuditLogger } from "../../../src/audit/create.js";
import { checkpointValid } from "../../../src/audit/records.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import { AUDIT_MIGRATION_SQL, auditCheckpoint, auditEntry, auditHead, auditIdempotency, auditPrune } from "../../../src/audit/postgres.js";

describe("export with a proof manifest", () => {
  it("streams NDJSON and CSV whose manifest pins range, hashes, digest and signed checkpoints", async () => {
    const audit = createAuditLogger({ signer: signerFromSeed(new Uint8Array(32).fill(5)), checkpoints: { everyEvents: 4 } });
    const workspaceId = randomUUID();
    for (let i = 0; i < 10; i++) {
      (await audit.append({ workspaceId, actor: { type: "member", id: "m", display: "=HYPERLINK(\"x\")" }, action: "journey.updated", metadata: { note: `line "${i}", with comma` } }))._unsafeUnwrap();
    }
    let ndjson = "";
    const manifest = (await audit.exportLog({ workspaceId, format: "ndjson", from: 3, to: 9, write: (c) => void (ndjson += c) }))._unsafeUnwrap();
    const lines = ndjson.trim().split("\n").map((l) => JSON.parse(l) as { seq: number; hash: string; prevHash: string });
    expect(lines.map((l) => l.seq)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(manifest).toMatchObject({ fromSeq: 3, toSeq: 9, count: 7, prevHash: lines[0]?.prevHash, headHash: lines[6]?.hash });
    expect(manifest.sha256).toBe(createHash("sha256").update(ndjson).digest("hex"));
    expect(manifest.checkpoints.map((c) => c.seq)).toEqual([4, 8]);
    for (const c of manifest.checkpoints) expect(checkpointValid(c, manifest.publicKeys)).toBe(true);
    for (let i = 1; i < lines.length; i++) expect(lines[i]?.prevHash).toBe(lines[i - 1]?.hash);

    let csv = "";
    const csvManifest = (await audit.exportLog({ workspaceId, format: "csv", write: (c) => void (csv += c) }))._unsafeUnwrap();
    expect(csvManifest.count).toBe(10);
    const rows = csv.trim().split("\n");
    expect(rows.length).toBe(11);
    expect(rows[0]?.startsWith("seq,recordedAt,occurredAt,action")).toBe(true);
    expect(rows[1]).toContain('"{""note"":""line \\""0\\"", with comma""}"');
    expect(rows[1]).toContain(`"'=HYPERLINK(""x"")"`); // formula injection neutralised
    expect((await audit.exportLog({ workspaceId, format: "xml" as never, write: () => undefined }))._unsafeUnwrapErr().type).toBe("InvalidInput");
    await audit.close();
  });
});

describe("drizzle tables and the SQL migration agree", () => {
  it("every drizzle column exists in the migrated tables with the same type and nullability", async () => {
    const db = new PGlite();
    await db.exec(AUDIT_MIGRATION_SQL);
    for (const table of [auditHead, auditEntry, auditIdempotency, auditCheckpoint, auditPrune]) {
      const config = getTableConfig(table);
      const { rows } = await db.query<{ column_name: string; udt_name: string; is_nullable: string }>(
        "select column_name, udt_name, is_nullable from information_schema.columns where table_name = $1 order by ordinal_position",
        [config.name],
      );
      const drizzleColumns = config.columns.map((c) => [c.name, c.getSQLType().replace("bigint", "int8").replace("timestamp (3) with time zone", "timestamptz"), c.notNull ? "NO" : "YES"]);
      expect(rows.map((r) => [r.column_name, r.udt_name, r.is_nullable])).toEqual(drizzleColumns);
    }
    await db.close();
  });
});
