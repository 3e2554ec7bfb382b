import { createHash, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { entryHash } from "../../../src/audit/chain.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import type { PostgresAuditStore } from "../../../src/audit/postgres/store.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import { verifyExport } from "../../../src/audit/verify-export.js";
import { createTestDatabase } from "../../support/postgres-server.js";

/** Query and export against real Postgres 15, on rows edited with SQL the way an attacker with table access would. */
const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const signer = signerFromSeed(new Uint8Array(32).fill(41));
const trusted = { publicKeys: { [signer.keyId]: signer.publicKey } };

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_audit_qx");
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  pool.on("error", () => undefined);
  (await migrateAuditTables(pool))._unsafeUnwrap();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

function logger(options: { signed?: boolean } = {}): { audit: AuditLogger; store: PostgresAuditStore } {
  const store = postgresAuditStore(pool)._unsafeUnwrap() as PostgresAuditStore;
  return { audit: new AuditLogger({ store, batch: { lingerMs: 0 }, ...(options.signed === false ? {} : { signer }) }), store };
}

async function filled(audit: AuditLogger, n: number, targets?: (i: number) => { type: string; id: string }): Promise<string> {
  const workspaceId = randomUUID();
  for (let i = 0; i < n; i++) {
    (
      await audit.append({
        workspaceId,
        actor: { type: "member", id: `m${i % 2}`, display: `u${i}@example.com` },
        action: "journey.updated",
        targets: [targets?.(i) ?? { type: "journey", id: `j${i}` }],
        context: { requestId: `r${i}`, ip: "198.51.100.4" },
        metadata: { i, quote: "'\"" },
        personal: { email: `p${i}@example.com` },
      })
    )._unsafeUnwrap();
  }
  return workspaceId;
}

async function exported(audit: AuditLogger, workspaceId: string, format: "ndjson" | "csv", range: { from?: number; to?: number } = {}) {
  let text = "";
  const manifest = (await audit.exportLog({ workspaceId, format, ...range, write: (c) => void (text += c) }))._unsafeUnwrap();
  return { text, manifest };
}

describe("query order on Postgres: never pasted into SQL", () => {
  it("a hostile order is InvalidInput and runs nothing (a canary sequence it would advance stays put); \"ASC\" too", async () => {
    const { audit, store } = logger();
    const workspaceId = await filled(audit, 3);
    await pool.query("create sequence if not exists tk_order_canary");
    const canary = async () => (await pool.query<{ is_called: boolean }>("select is_called from tk_order_canary")).rows[0]?.is_called;
    expect(await canary()).toBe(false);
    for (const order of ["desc, nextval('tk_order_canary')", "asc limit 1; select nextval('tk_order_canary') --", "ASC", "desc "]) {
      expect((await audit.query({ workspaceId, order: order as never }))._unsafeUnwrapErr().type, order).toBe("InvalidInput");
      expect((await store.query({ workspaceId, order: order as never, limit: 10 }))._unsafeUnwrapErr().type, order).toBe("InvalidInput");
    }
    expect(await canary(), "the injected nextval never ran").toBe(false);
    expect((await audit.query({ workspaceId, order: "asc" }))._unsafeUnwrap().entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await audit.query({ workspaceId }))._unsafeUnwrap().entries.map((e) => e.seq)).toEqual([3, 2, 1]);
    await audit.close();
  });
});

describe("query target on Postgres", () => {
  it("matches type and id exactly although the column value collides; a target without type or id is InvalidInput", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 12, (i) => (i % 4 === 0 ? { type: "journey", id: "x:y" } : { type: "journey:x", id: "y" }));
    const seqs = async (target: { type: string; id: string }, limit: number) => {
      const out: number[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 50; page++) {
        const result = (await audit.query({ workspaceId, target, limit, order: "asc", ...(cursor !== undefined ? { cursor } : {}) }))._unsafeUnwrap();
        out.push(...result.entries.map((e) => e.seq));
        if (result.nextCursor === undefined) return out;
        cursor = result.nextCursor;
      }
      throw new Error("the cursor never ended");
    };
    for (const limit of [1, 2, 100]) {
      expect(await seqs({ type: "journey", id: "x:y" }, limit)).toEqual([1, 5, 9]);
      expect(await seqs({ type: "journey:x", id: "y" }, limit)).toEqual([2, 3, 4, 6, 7, 8, 10, 11, 12]);
    }
    for (const target of [{ type: "journey" }, { id: "x:y" }, {}]) {
      expect((await audit.query({ workspaceId, target: target as never }))._unsafeUnwrapErr().type).toBe("InvalidInput");
    }
    await audit.close();
  });
});

describe("export on Postgres: checkable by a third party", () => {
  it("NDJSON and CSV of a range verify with verifyExport alone; an edited record (digest recomputed) does not", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 8);
    (await audit.erase({ workspaceId, seqs: [4] }))._unsafeUnwrap();
    for (const format of ["ndjson", "csv"] as const) {
      const { text, manifest } = await exported(audit, workspaceId, format, { from: 3, to: 6 });
      expect(manifest).toMatchObject({ fromSeq: 3, toSeq: 6, count: 4, headSeq: 8, statement: { toSeq: 6, headHash: manifest.headHash } });
      const expected = { ...trusted, workspaceId, from: 3, to: 6 };
      expect(verifyExport(text, manifest, expected)).toMatchObject({ ok: true, state: "verified", entries: 4, signedBy: signer.keyId });
      expect(verifyExport(text, manifest, { ...expected, workspaceId: randomUUID() })).toMatchObject({ ok: false, state: "invalid" });
      // Entry 3's display name (i = 2), in the shown field and in its opening alike.
      const edited = text.replaceAll("u2@example.com", "u9@example.com");
      expect(edited).not.toBe(text);
      const check = verifyExport(edited, { ...manifest, sha256: createHash("sha256").update(edited).digest("hex") }, expected);
      expect(check).toMatchObject({ ok: false, problem: { seq: 3 } });
    }
    await audit.close();
  });

  it("a personal key __proto__ survives the jsonb round trip as an own property, and the export verifies", async () => {
    const { audit } = logger();
    const workspaceId = randomUUID();
    const personal = JSON.parse('{"__proto__":"kept","a":1}') as Record<string, never>;
    (await audit.append({ workspaceId, actor: { type: "member", id: "m" }, action: "journey.updated", personal }))._unsafeUnwrap();
    const entry = (await audit.query({ workspaceId }))._unsafeUnwrap().entries[0];
    expect(Object.getOwnPropertyDescriptor(entry?.personal, "__proto__")?.value).toBe("kept");
    const { text, manifest } = await exported(audit, workspaceId, "ndjson");
    expect(verifyExport(text, manifest, { ...trusted, workspaceId }).ok).toBe(true);
    await audit.close();
  });

  it("a write that throws is ExportWriteFailed, and from: NaN is InvalidInput (it exported everything with fromSeq NaN)", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 2);
    const failed = await audit.exportLog({ workspaceId, format: "ndjson", write: () => { throw new Error("EPIPE"); } });
    expect(failed._unsafeUnwrapErr().type).toBe("ExportWriteFailed");
    let written = "";
    const nan = await audit.exportLog({ workspaceId, format: "ndjson", from: Number.NaN, write: (c) => void (written += c) });
    expect(nan._unsafeUnwrapErr().type).toBe("InvalidInput");
    expect(written).toBe("");
    await audit.close();
  });
});

describe("the last entry rewritten with SQL, its hash recomputed, the head row left alone", () => {
  it("verify names it modified and the export signs nothing (it signed the rewritten body)", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 6); // no checkpoint stored yet (every 1000 events)
    const { rows } = await pool.query<{ prev_hash: Buffer; body: string; ms: number }>(
      "select prev_hash, body, (extract(epoch from recorded_at) * 1000)::float8 as ms from audit_entry where workspace_id = $1 and seq = 6",
      [workspaceId],
    );
    const row = rows[0] as { prev_hash: Buffer; body: string; ms: number };
    const body = row.body.replace('"i":5', '"i":50');
    expect(body).not.toBe(row.body);
    const hash = entryHash(workspaceId, 6, Math.round(row.ms), row.prev_hash, body);
    await pool.query("update audit_entry set body = $2, hash = $3 where workspace_id = $1 and seq = 6", [workspaceId, body, hash]);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 6 });
    const { text, manifest } = await exported(audit, workspaceId, "ndjson");
    expect(manifest).toMatchObject({ count: 6, statement: null, rangeUnsigned: expect.stringMatching(/modified at seq 6/) });
    expect(text).toContain('\\"i\\":50');
    expect(verifyExport(text, manifest, { ...trusted, workspaceId })).toMatchObject({ ok: false, state: "unsigned" });
    await audit.close();
  });
});

describe("rows edited with SQL: query, export and verify answer, never throw", () => {
  it("a body that is not JSON: query and export flag the row, export signs nothing, verify names it", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 4);
    await pool.query("update audit_entry set body = 'not json' where workspace_id = $1 and seq = 2", [workspaceId]);
    const page = (await audit.query({ workspaceId, order: "asc" }))._unsafeUnwrap();
    expect(page.entries.map((e) => e.corrupt ?? null)).toEqual([null, "the body is not JSON", null, null]);
    for (const format of ["ndjson", "csv"] as const) {
      const { text, manifest } = await exported(audit, workspaceId, format);
      expect(manifest).toMatchObject({ count: 4, statement: null, rangeUnsigned: expect.stringMatching(/modified at seq 2/) });
      expect(verifyExport(text, manifest, { ...trusted, workspaceId })).toMatchObject({ ok: false, problem: { seq: 2 } });
    }
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 2 });
    await audit.close();
  });

  it("a personal column of the wrong shape: flagged by query, named by verify (verify threw a TypeError)", async () => {
    const { audit } = logger();
    const workspaceId = await filled(audit, 3);
    await pool.query(`update audit_entry set personal = '{"actor.display": null}'::jsonb where workspace_id = $1 and seq = 3`, [workspaceId]);
    const page = (await audit.query({ workspaceId }))._unsafeUnwrap();
    expect(page.entries[0]).toMatchObject({ seq: 3, corrupt: expect.any(String) });
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 3 });
    await audit.close();
  });

  it("entry k's prev_hash changed with its hash recomputed is named k (it was named k-1), also as the last entry", async () => {
    const { audit } = logger();
    const rewrite = async (workspaceId: string, seq: number) => {
      const { rows } = await pool.query<{ prev_hash: Buffer; body: string; ms: number }>(
        "select prev_hash, body, (extract(epoch from recorded_at) * 1000)::float8 as ms from audit_entry where workspace_id = $1 and seq = $2",
        [workspaceId, seq],
      );
      const row = rows[0] as { prev_hash: Buffer; body: string; ms: number };
      const prev = Buffer.from(row.prev_hash);
      prev[0] = (prev[0] as number) ^ 1;
      const hash = entryHash(workspaceId, seq, Math.round(row.ms), prev, row.body);
      await pool.query("update audit_entry set prev_hash = $3, hash = $4 where workspace_id = $1 and seq = $2", [workspaceId, seq, prev, hash]);
      return hash;
    };
    for (const seq of [1, 3, 5]) {
      const workspaceId = await filled(audit, 5);
      await rewrite(workspaceId, seq);
      expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage, `seq ${seq}`).toMatchObject({ kind: "modified", seq });
    }
    // The last entry with the head row rewritten to match: nothing else holds its original hash, so the earlier
    // of the two entries that may have changed is named (documented).
    const workspaceId = await filled(audit, 5);
    const hash = await rewrite(workspaceId, 5);
    await pool.query("update audit_head set hash = $2 where workspace_id = $1", [workspaceId, hash]);
    expect((await audit.verify({ workspaceId }))._unsafeUnwrap().damage).toMatchObject({ kind: "modified", seq: 4 });
    await audit.close();
  });
});
