/**
 * A second process for the two-process destroy test: decrypts one ciphertext
 * every 25 ms through its own TenantCipher on the shared Postgres key store
 * and prints one JSON line per attempt, until it sees KeyDestroyed.
 * argv: databaseUrl rootKeys workspaceId purpose ciphertext maxAgeMs
 */
import pg from "pg";
import { TenantCipher } from "../../../src/crypto/index.js";
import { postgresKeyStore } from "../../../src/crypto/postgres.js";

const [databaseUrl, rootKeys, workspaceId, purpose, ciphertext, maxAgeMs] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const cipher = new TenantCipher({ rootKeys: rootKeys ?? "", store: postgresKeyStore(pool), cache: { maxAgeMs: Number(maxAgeMs) } });

for (;;) {
  const result = await cipher.decrypt({ workspaceId: workspaceId ?? "", purpose: purpose ?? "", ciphertext: ciphertext ?? "" });
  const line = result.isOk() ? { at: Date.now(), ok: Buffer.from(result.value).toString() } : { at: Date.now(), error: result.error.type };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  if (result.isErr() && result.error.type === "KeyDestroyed") {
    const encrypt = await cipher.encrypt({ workspaceId: workspaceId ?? "", purpose: purpose ?? "", plaintext: "new" });
    process.stdout.write(`${JSON.stringify({ at: Date.now(), encrypt: encrypt.isErr() ? encrypt.error.type : "ok" })}\n`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 25));
}
await pool.end();
