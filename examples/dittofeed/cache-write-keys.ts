/**
 * A write-key lookup cache for Dittofeed's ingestion path.
 *
 * `validateWriteKey` runs a Postgres query per request today. A write key is
 * `base64(secretId:secretValue)`; the workspace is only known after the
 * lookup, so lookups are cached in the partition of a fixed "lookup"
 * workspace id, keyed by secretId, with its own byte cap (via `budgetFor`) so
 * a flood of bogus keys (cached negatively, for a short TTL) can only evict
 * other lookups, never a workspace's own entries. Revoking a key deletes its
 * entry, on every node with the Redis tier.
 */
import { timingSafeEqual } from "node:crypto";
import type { Result } from "neverthrow";
import { err, ok } from "neverthrow";
import type { CacheError } from "../../src/cache/index.js";
import type { Queryable } from "./cache-journeys.js";

/** The partition that holds write-key lookups (a reserved UUID, not a real workspace). */
export const WRITE_KEY_LOOKUP_WORKSPACE = "00000000-0000-4000-8000-00000000c0de";

export interface WriteKeyRecord {
  readonly workspaceId: string;
  readonly value: string;
}

export interface WriteKeyCache {
  getOrLoad(
    params: { workspaceId: string; key: string },
    loader: () => Promise<WriteKeyRecord | undefined>,
  ): Promise<Result<WriteKeyRecord | undefined, CacheError>>;
  delete(params: { workspaceId: string; key: string }): Promise<Result<unknown, CacheError>> | Result<unknown, CacheError>;
}

export type WriteKeyError = { type: "InvalidWriteKey"; message: string } | CacheError;

export function writeKeysWithCache({ db, cache }: { db: Queryable; cache: WriteKeyCache }) {
  const load = async (secretId: string): Promise<WriteKeyRecord | undefined> => {
    const { rows } = await db.query<{ workspaceId: string; value: string }>(
      `select w."workspaceId", s.value
         from "WriteKey" w join "Secret" s on s.id = w."secretId"
        where w."secretId" = $1`,
      [secretId],
    );
    return rows[0];
  };

  /** Resolves a write key to its workspace, as Dittofeed's `validateWriteKey` does. */
  async function validateWriteKey({ writeKey }: { writeKey: string }): Promise<Result<string, WriteKeyError>> {
    const decoded = Buffer.from(writeKey, "base64").toString("utf8");
    const [secretId, secretValue] = decoded.split(":");
    if (secretId === undefined || secretValue === undefined || !/^[0-9a-f-]{36}$/i.test(secretId)) {
      return err({ type: "InvalidWriteKey", message: "malformed write key" });
    }
    const found = await cache.getOrLoad({ workspaceId: WRITE_KEY_LOOKUP_WORKSPACE, key: secretId }, () => load(secretId));
    if (found.isErr()) return err(found.error);
    const record = found.value;
    const a = Buffer.from(record?.value ?? "");
    const b = Buffer.from(secretValue);
    if (record === undefined || a.length !== b.length || !timingSafeEqual(a, b)) {
      return err({ type: "InvalidWriteKey", message: "unknown write key" });
    }
    return ok(record.workspaceId);
  }

  /** Call after deleting or rotating a write key's secret. */
  async function revokeWriteKey({ secretId }: { secretId: string }): Promise<Result<unknown, CacheError>> {
    return cache.delete({ workspaceId: WRITE_KEY_LOOKUP_WORKSPACE, key: secretId });
  }

  return { validateWriteKey, revokeWriteKey };
}
