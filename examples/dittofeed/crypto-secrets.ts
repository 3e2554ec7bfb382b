/**
 * How Dittofeed's backend-lib would encrypt `Secret.value` per workspace with
 * TenantCipher. Today `upsertEmailProvider` stores the provider API key in
 * plaintext; here the value is sealed under the workspace's data key and bound
 * to (workspaceId, "secret:<name>"), so a row copied to another workspace or
 * another secret name cannot be decrypted. Styled like backend-lib: one
 * destructured object per call, neverthrow Results, errors discriminated on `type`.
 */
import { err, ok, type Result } from "neverthrow";
import { TenantCipher, tenantCipherFromEnv, type CryptoError } from "../../src/crypto/index.js";
import { postgresKeyStore } from "../../src/crypto/postgres.js";
import type { PgPoolLike } from "../../src/core/postgres/index.js";

/** The part of a `pg` Pool this example uses (Dittofeed's `pool()`). */
type Pool = PgPoolLike;

let cipherSingleton: TenantCipher | undefined;

/** Lazy singleton, as Dittofeed does for `db()` and `logger()`. */
export function secretCipher(pool: Pool): Result<TenantCipher, CryptoError> {
  if (cipherSingleton) return ok(cipherSingleton);
  const cipher = tenantCipherFromEnv(process.env.TENANCY_ROOT_KEYS, {
    store: postgresKeyStore(pool),
    cache: { maxAgeMs: 60_000 },
  });
  if (cipher.isOk()) cipherSingleton = cipher.value;
  return cipher;
}

export type UpsertSecretError = CryptoError | { type: "QueryError"; message: string; retryable: boolean };

/** `upsertSecret({ workspaceId, name, value })`: writes the `tc1.` text form into the existing text column. */
export async function upsertSecret({
  pool,
  workspaceId,
  name,
  value,
}: {
  pool: Pool;
  workspaceId: string;
  name: string;
  value: string;
}): Promise<Result<void, UpsertSecretError>> {
  const cipher = secretCipher(pool);
  if (cipher.isErr()) return err(cipher.error);
  const sealed = await cipher.value.encryptText({ workspaceId, purpose: `secret:${name}`, plaintext: value });
  if (sealed.isErr()) return err(sealed.error);
  try {
    await pool.query(
      `insert into "Secret" ("workspaceId", name, value) values ($1, $2, $3)
       on conflict ("workspaceId", name) do update set value = excluded.value, "updatedAt" = now()`,
      [workspaceId, name, sealed.value],
    );
    return ok(undefined);
  } catch (thrown) {
    return err({ type: "QueryError", message: String(thrown), retryable: true });
  }
}

/** `getSecretValue({ workspaceId, name })`: null when absent, a typed error when unreadable (never plaintext on failure). */
export async function getSecretValue({
  pool,
  workspaceId,
  name,
}: {
  pool: Pool;
  workspaceId: string;
  name: string;
}): Promise<Result<string | null, UpsertSecretError>> {
  const cipher = secretCipher(pool);
  if (cipher.isErr()) return err(cipher.error);
  let stored: string | null | undefined;
  try {
    const { rows } = (await pool.query(`select value from "Secret" where "workspaceId" = $1 and name = $2`, [workspaceId, name])) as {
      rows: { value: string | null }[];
    };
    stored = rows[0]?.value;
  } catch (thrown) {
    return err({ type: "QueryError", message: String(thrown), retryable: true });
  }
  if (stored === undefined || stored === null) return ok(null);
  const opened = await cipher.value.decryptText({ workspaceId, purpose: `secret:${name}`, ciphertext: stored });
  if (opened.isErr()) {
    // e.g. KeyDestroyed after a workspace was crypto-shredded, AuthFailed for a row moved between workspaces.
    return err(opened.error);
  }
  return ok(opened.value);
}

/**
 * One-off migration of existing rows: plaintext `Secret.value`s and Gmail
 * tokens written by secrets.ts (`{ iv, encryptedData, authTag }` JSON under
 * SECRET_KEY) become `tc1.` envelopes, 500 rows per UPDATE. Re-runnable.
 */
export async function migrateSecrets({
  pool,
  legacySecretKey,
  logger,
}: {
  pool: Pool;
  legacySecretKey: Uint8Array;
  /** Dittofeed's `logger()` (pino): object first, message second. */
  logger?: { info(obj: object, msg: string): void };
}) {
  const cipher = secretCipher(pool);
  if (cipher.isErr()) return err(cipher.error);
  const { rows } = (await pool.query(`select id, "workspaceId", name, value from "Secret" where value is not null`)) as {
    rows: { id: string; workspaceId: string; name: string; value: string }[];
  };
  return cipher.value.reencrypt({
    rows: rows.map((row) => ({ ...row, purpose: `secret:${row.name}` })),
    legacyKey: legacySecretKey,
    plaintext: "encrypt",
    write: async (updates) => {
      const ids = updates.map((u) => u.row.id);
      const values = updates.map((u) => u.value as string);
      await pool.query(
        `update "Secret" s set value = v.value from unnest($1::uuid[], $2::text[]) as v(id, value) where s.id = v.id`,
        [ids, values],
      );
    },
    onProgress: (stats) => logger?.info({ ...stats, failures: stats.failures.length }, "secret migration progress"),
  });
}
