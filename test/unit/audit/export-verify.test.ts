import { createHash, randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { entryHash } from "../../../src/audit/chain.js";
import type { StoredEntry } from "../../../src/audit/event.js";
import type { ExportManifest } from "../../../src/audit/export.js";
import { AuditLogger } from "../../../src/audit/logger.js";
import { MemoryAuditStore } from "../../../src/audit/memory-store.js";
import { signExportStatement } from "../../../src/audit/export-statement.js";
import { signerFromSeed } from "../../../src/audit/signing.js";
import { verifyExport } from "../../../src/audit/verify-export.js";
import { ManualClock } from "../../../src/core/clock.js";
import { seededRandom } from "../../../src/core/random.js";

const signer = signerFromSeed(new Uint8Array(32).fill(21));
const keys = { [signer.keyId]: signer.publicKey };
const trusted = (workspaceId: string, range: { from?: number; to?: number } = {}) => ({ publicKeys: keys, workspaceId, ...range });

/** A logger with default checkpoints (every 1000 events): a short export has no stored checkpoint in it. */
async function filled(n: number, options: { signed?: boolean } = {}) {
  const store = new MemoryAuditStore();
  const clock = new ManualClock(Date.UTC(2026, 4, 1));
  const audit = new AuditLogger({ store, clock, random: seededRandom(4), batch: { lingerMs: 0 }, ...(options.signed === false ? {} : { signer }) });
  const workspaceId = randomUUID();
  for (let i = 0; i < n; i++) {
    clock.advance(7);
    (
      await audit.append({
        workspaceId,
        actor: { type: "member", id: `m${i % 2}`, display: `=u${i}@example.com` },
        action: "journey.updated",
        targets: [{ type: "journey", id: `j,"${i}"\n` }],
        outcome: i % 3 === 0 ? { status: "failure", reason: "-denied" } : { status: "success" },
        context: { requestId: `r${i}`, ip: "198.51.100.7", userAgent: "curl/8" },
        metadata: { i, note: "line \"quoted\"\nnext", é: "✓" },
        personal: { email: `p${i}@example.com`, n: i },
        ...(i === 1 ? { idempotencyKey: "k1" } : {}),
      })
    )._unsafeUnwrap();
  }
  return { audit, store, workspaceId, clock };
}

async function exported(audit: AuditLogger, workspaceId: string, format: "ndjson" | "csv", range: { from?: number; to?: number } = {}) {
  let text = "";
  const manifest = (await audit.exportLog({ workspaceId, format, ...range, write: (c) => void (text += c) }))._unsafeUnwrap();
  return { text, manifest };
}

/** What an attacker who edits an export would also do: fix up the manifest's digest. */
const redigested = (manifest: ExportManifest, text: string): ExportManifest => ({ ...manifest, sha256: createHash("sha256").update(text).digest("hex") });

describe("an export a third party can check (verifyExport)", () => {
  it("NDJSON and CSV of a short range verify without the database: each record recomputes its hash, and the last is signed", async () => {
    const { audit, workspaceId } = await filled(6);
    (await audit.erase({ workspaceId, seqs: [3] }))._unsafeUnwrap();
    for (const format of ["ndjson", "csv"] as const) {
      const { text, manifest } = await exported(audit, workspaceId, format, { from: 2, to: 5 });
      expect(manifest).toMatchObject({ fromSeq: 2, toSeq: 5, count: 4, checkpoints: [] });
      // Default checkpoints (every 1000 events) stored none; the exporter signs its statement after verifying.
      expect(manifest.statement).toMatchObject({ workspaceId, fromSeq: 2, toSeq: 5, headHash: manifest.headHash, keyId: signer.keyId });
      const range = { from: 2, to: 5 };
      expect(verifyExport(text, manifest, trusted(workspaceId, range))).toEqual({ ok: true, state: "verified", problem: null, entries: 4, signedBy: signer.keyId });
      // Keys from the manifest are not trusted: another key, or none, fails.
      const other = signerFromSeed(new Uint8Array(32).fill(22));
      expect(verifyExport(text, manifest, { publicKeys: { [other.keyId]: other.publicKey }, workspaceId, ...range }).ok).toBe(false);
      expect(verifyExport(text, manifest, { publicKeys: {}, workspaceId, ...range }).ok).toBe(false);
    }
    const { text } = await exported(audit, workspaceId, "ndjson", { from: 3, to: 3 });
    const record = JSON.parse(text) as Record<string, unknown>;
    // What the hash covers is in the record; the erased entry's body still holds its commitments, not values.
    expect(record).toMatchObject({ seq: 3, erased: true, openings: null, recordedAtMs: expect.any(Number) });
    expect(entryHash(workspaceId, 3, record.recordedAtMs as number, Buffer.from(record.prevHash as string, "hex"), record.body as string).toString("hex")).toBe(record.hash);
    expect(record.body).not.toContain("p2@example.com");
    await audit.close();
  });

  it("flipping any byte of an exported record is detected, even with the manifest's digest recomputed", async () => {
    const { audit, workspaceId } = await filled(2);
    for (const format of ["ndjson", "csv"] as const) {
      const { text, manifest } = await exported(audit, workspaceId, format);
      expect(verifyExport(text, manifest, trusted(workspaceId)).ok).toBe(true);
      const bytes = Buffer.from(text);
      const start = format === "csv" ? text.indexOf("\n") + 1 : 0; // the CSV header is no record
      for (let at = start; at < bytes.length; at++) {
        for (const mask of [0x01, 0x20]) {
          const copy = Buffer.from(bytes);
          copy[at] = (copy[at] as number) ^ mask;
          const tampered = copy.toString("utf8");
          const check = verifyExport(tampered, redigested(manifest, tampered), trusted(workspaceId));
          if (check.ok) throw new Error(`${format}: byte ${at} ^ ${mask} went undetected: ${JSON.stringify(tampered.slice(Math.max(0, at - 30), at + 30))}`);
        }
      }
    }
    await audit.close();
  });

  it("a forged statement, a manifest edited to fit, or a dropped record is detected", async () => {
    const { audit, workspaceId } = await filled(4);
    const { text, manifest } = await exported(audit, workspaceId, "ndjson");
    const lines = text.split("\n").filter((l) => l !== "");
    const statement = manifest.statement as NonNullable<ExportManifest["statement"]>;
    const { keyId: _keyId, signature: _signature, ...fields } = statement;
    const forger = signerFromSeed(new Uint8Array(32).fill(23));
    expect(verifyExport(text, { ...manifest, statement: signExportStatement(forger, fields) }, trusted(workspaceId)).ok).toBe(false);
    expect(verifyExport(text, { ...manifest, statement: { ...statement, toSeq: 3 } }, trusted(workspaceId)).ok).toBe(false);
    const dropped = `${lines.slice(0, 3).join("\n")}\n`;
    const last = JSON.parse(lines[2] as string) as { hash: string };
    expect(verifyExport(dropped, { ...redigested(manifest, dropped), count: 3, toSeq: 3, headHash: last.hash }, trusted(workspaceId))).toMatchObject({ ok: false });
    const middle = `${[lines[0], lines[2], lines[3]].join("\n")}\n`;
    expect(verifyExport(middle, { ...redigested(manifest, middle), count: 3 }, trusted(workspaceId))).toMatchObject({ ok: false, problem: { seq: 3 } });
    await audit.close();
  });

  it("without a signing key the manifest says the range is unsigned, and verifyExport does not pass it", async () => {
    const { audit, workspaceId } = await filled(3, { signed: false });
    const { text, manifest } = await exported(audit, workspaceId, "ndjson");
    expect(manifest.statement).toBeNull();
    expect(manifest.rangeUnsigned).toMatch(/no signing key/);
    expect(verifyExport(text, manifest, trusted(workspaceId))).toMatchObject({ ok: false, state: "unsigned", problem: { seq: null, message: expect.stringMatching(/not signed/) } });
    await audit.close();
  });

  it("does not sign a range over rows rewritten with recomputed hashes (that would launder the rewrite)", async () => {
    const { audit, store, workspaceId } = await filled(5);
    (await audit.checkpoint({ workspaceId }))._unsafeUnwrap(); // signs seq 5
    const rows = store.rowsForTesting(workspaceId);
    // Rewrite entry 2 and re-hash everything after it: the chain is internally consistent again.
    let prev = (rows[0] as StoredEntry).hash;
    for (let i = 1; i < rows.length; i++) {
      const row = rows[i] as StoredEntry;
      const body = i === 1 ? row.body.replace('"action":"journey.updated"', '"action":"journey.viewed"') : row.body;
      const hash = entryHash(workspaceId, row.seq, row.recordedAtMs, prev, body);
      rows[i] = { ...row, body, prevHash: prev, hash, index: { ...row.index, action: i === 1 ? "journey.viewed" : row.index.action } };
      prev = hash;
    }
    const { text, manifest } = await exported(audit, workspaceId, "ndjson", { from: 1, to: 3 });
    expect(manifest.statement).toBeNull();
    expect(manifest.rangeUnsigned).toMatch(/verify found damage \(modified at seq/);
    expect(verifyExport(text, manifest, trusted(workspaceId, { from: 1, to: 3 })).ok).toBe(false);
    await audit.close();
  });
});
