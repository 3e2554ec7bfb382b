import { err, ok, type Result } from "neverthrow";
import { storeFailed, storeUnavailable } from "../../core/errors.js";
import { sqlResult, toSqlClient, type PostgresSource, type SqlClient, type SqlExecutor } from "../../core/postgres/index.js";
import type { DataKeyRecord, KeyState, KeyStore, KeyStoreError, KeyTombstone } from "../keys/key-store.js";
import { CRYPTO_MIGRATION_SQL } from "./migration.js";
import { underMigrationLock } from "../../core/postgres/migration-lock.js";

interface KeyRow {
  workspace_id: string;
  version: string | number;
  wrapped_key: Uint8Array | null;
  root_key_id: string;
  state: KeyState;
  created_at: Date | string;
  updated_at: Date | string;
}
interface TombstoneRow {
  workspace_id: string;
  destroyed_at: Date | string;
  destroyed_by: string;
  versions_destroyed: number;
}

const toRecord = (row: KeyRow): DataKeyRecord => ({
  workspaceId: row.workspace_id,
  version: Number(row.version),
  wrappedKey: row.wrapped_key === null ? null : new Uint8Array(row.wrapped_key),
  rootKeyId: row.root_key_id,
  state: row.state,
  createdAt: new Date(row.created_at).getTime(),
  updatedAt: new Date(row.updated_at).getTime(),
});
const toTombstone = (row: TombstoneRow): KeyTombstone => ({
  workspaceId: row.workspace_id,
  destroyedAt: new Date(row.destroyed_at).getTime(),
  destroyedBy: row.destroyed_by,
  versionsDestroyed: Number(row.versions_destroyed),
});

const KEY_COLUMNS = "workspace_id, version, wrapped_key, root_key_id, state, created_at, updated_at";
/** Serialises key writes per workspace (add version vs destroy), transaction-scoped so PgBouncer transaction mode works. */
const LOCK = "select pg_advisory_xact_lock(hashtextextended('tenancy_data_keys:' || $1::text, 0))";

/**
 * sqlResult, plus: a client-side timeout (pg's `query_timeout`,
 * `connectionTimeoutMillis`) carries no SQLSTATE and would be reported as a
 * non-retryable StoreFailed; a timeout is an availability problem, so it is
 * reported as StoreUnavailable.
 */
async function sqlRun<T>(what: string, fn: () => Promise<T>): Promise<Result<T, KeyStoreError>> {
  const result = await sqlResult(what, fn);
  if (result.isErr() && result.error.type === "StoreFailed" && /time(d)? ?out/i.test(result.error.message)) {
    return err(storeUnavailable(result.error.message, { cause: result.error.cause }));
  }
  return result;
}

/** Creates the key store tables if missing. */
export async function migrateKeyStore(source: PostgresSource): Promise<Result<void, KeyStoreError>> {
  const client = toSqlClient(source);
  if (client === undefined) return err(storeFailed("migrateKeyStore: not a pg Pool, drizzle database or PGlite"));
  return sqlResult("create key store tables", () => client.exec(underMigrationLock(CRYPTO_MIGRATION_SQL)));
}

/**
 * The durable key store on Postgres (a `pg` Pool, a drizzle database or
 * PGlite). Several processes share it: adding a version and destroying a
 * workspace take a per-workspace advisory lock, so a rotation can never slip
 * a live key in after a shred. Destroyed keys are set to NULL; the old bytes
 * stay in dead tuples until VACUUM and in backups taken before the shred.
 */
export function postgresKeyStore(source: PostgresSource): KeyStore {
  const client: SqlClient | undefined = toSqlClient(source);
  if (client === undefined) throw new TypeError("postgresKeyStore: expected a pg Pool, a drizzle database or PGlite");
  const tombstoneOf = async (tx: SqlExecutor, workspaceId: string) => {
    const { rows } = await tx.query<TombstoneRow>(
      "select workspace_id, destroyed_at, destroyed_by, versions_destroyed from tenancy_key_tombstones where workspace_id = $1",
      [workspaceId],
    );
    return rows[0] && toTombstone(rows[0]);
  };
  return {
    load: (workspaceId) =>
      sqlRun("load data keys", async () => {
        const { rows } = await client.query<KeyRow>(`select ${KEY_COLUMNS} from tenancy_data_keys where workspace_id = $1 order by version`, [workspaceId]);
        const tombstone = await tombstoneOf(client, workspaceId);
        const keys = rows.map(toRecord);
        return tombstone === undefined ? { keys } : { keys, tombstone };
      }),
    addVersion: (record) =>
      sqlRun("add data key version", () =>
        client.transaction(async (tx) => {
          await tx.query(LOCK, [record.workspaceId]);
          if ((await tombstoneOf(tx, record.workspaceId)) !== undefined) return "destroyed" as const;
          const inserted = await tx.query(
            `insert into tenancy_data_keys (${KEY_COLUMNS}) values ($1, $2, $3, $4, 'active', $5, $5)
             on conflict (workspace_id, version) do nothing returning version`,
            [record.workspaceId, record.version, Buffer.from(record.wrappedKey ?? new Uint8Array()), record.rootKeyId, new Date(record.createdAt)],
          );
          if (inserted.rows.length === 0) return "exists" as const;
          await tx.query(
            "update tenancy_data_keys set state = 'retired', updated_at = $3 where workspace_id = $1 and state = 'active' and version <> $2",
            [record.workspaceId, record.version, new Date(record.createdAt)],
          );
          return "added" as const;
        }),
      ),
    replaceWrapped: ({ workspaceId, version, expectedRootKeyId, rootKeyId, wrappedKey, at }) =>
      sqlRun("replace wrapped data key", async () => {
        const { rows } = await client.query(
          `update tenancy_data_keys set wrapped_key = $5, root_key_id = $4, updated_at = $6
           where workspace_id = $1 and version = $2 and root_key_id = $3 and state <> 'destroyed' returning version`,
          [workspaceId, version, expectedRootKeyId, rootKeyId, Buffer.from(wrappedKey), new Date(at)],
        );
        return rows.length === 1;
      }),
    destroy: ({ workspaceId, by, at }) =>
      sqlRun("destroy data keys", () =>
        client.transaction(async (tx) => {
          await tx.query(LOCK, [workspaceId]);
          const existing = await tombstoneOf(tx, workspaceId);
          if (existing !== undefined) return existing;
          const wiped = await tx.query(
            "update tenancy_data_keys set wrapped_key = null, state = 'destroyed', updated_at = $2 where workspace_id = $1 returning version",
            [workspaceId, new Date(at)],
          );
          const { rows } = await tx.query<TombstoneRow>(
            `insert into tenancy_key_tombstones (workspace_id, destroyed_at, destroyed_by, versions_destroyed)
             values ($1, $2, $3, $4) returning workspace_id, destroyed_at, destroyed_by, versions_destroyed`,
            [workspaceId, new Date(at), by, wiped.rows.length],
          );
          const row = rows[0];
          if (row === undefined) throw new Error("tombstone insert returned no row");
          return toTombstone(row);
        }),
      ),
    list: ({ after, limit }) =>
      sqlRun("list data keys", async () => {
        const { rows } =
          after === undefined
            ? await client.query<KeyRow>(`select ${KEY_COLUMNS} from tenancy_data_keys order by workspace_id, version limit $1`, [limit])
            : await client.query<KeyRow>(
                `select ${KEY_COLUMNS} from tenancy_data_keys where (workspace_id, version) > ($1::uuid, $2::bigint)
                 order by workspace_id, version limit $3`,
                [after.workspaceId, after.version, limit],
              );
        return rows.map(toRecord);
      }),
  };
}
