import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzleNodePg, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { integer, pgTable } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite, type PgliteDatabase } from "drizzle-orm/pglite";
import { ok } from "neverthrow";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { migrateAuditTables, postgresAuditStore } from "../../../src/audit/postgres.js";
import { toSqlClient, type PostgresSource } from "../../../src/core/postgres/sql-client.js";
import { migrateKeyStore, postgresKeyStore } from "../../../src/crypto/postgres.js";
import { UsageFlusher } from "../../../src/metrics/flusher.js";
import { assertAppRole, checkTenancy, withWorkspace } from "../../../src/postgres/index.js";
import { PostgresQuotaStore } from "../../../src/quota/stores/postgres.js";

/**
 * Dittofeed types its database as drizzle declares it, `NodePgDatabase<Schema>`,
 * whose type has no `$client` (only `drizzle()`'s return type adds it). Every
 * function taking a Postgres source must accept it as typed, and find the
 * client at run time. The assignments below are the type-level half: with a
 * `PostgresSource` that requires `$client`, `npm run typecheck` fails here.
 */
const schema = { notes: pgTable("notes", { id: integer("id").primaryKey() }) };
type Schema = typeof schema;
const WS = "4a7d3c2e-1f0b-4e6a-9c8d-7b6a5f4e3d2c";

const nodePgPool = new pg.Pool({ connectionString: "postgres://tenancykit@127.0.0.1:9/never-connected" });
const dittofeedDb: NodePgDatabase<Schema> = drizzleNodePg({ client: nodePgPool, schema });
const pglite = new PGlite();
const pgliteDb: PgliteDatabase<Schema> = drizzlePglite({ client: pglite, schema });
afterAll(async () => {
  await pglite.close();
  await nodePgPool.end();
});

describe("a drizzle database typed without $client (as Dittofeed's db() is)", () => {
  it("is accepted as typed by every function that takes a Postgres source", () => {
    const sources: PostgresSource[] = [dittofeedDb, pgliteDb];
    const asParameters: [
      Parameters<typeof postgresAuditStore>[0],
      Parameters<typeof migrateAuditTables>[0],
      Parameters<typeof postgresKeyStore>[0],
      Parameters<typeof migrateKeyStore>[0],
      Parameters<typeof withWorkspace>[0],
      Parameters<typeof checkTenancy>[0],
      Parameters<typeof assertAppRole>[0],
    ] = [dittofeedDb, dittofeedDb, dittofeedDb, dittofeedDb, dittofeedDb, dittofeedDb, dittofeedDb];
    const flusherDb: ConstructorParameters<typeof UsageFlusher>[1]["db"] = dittofeedDb;
    const quotaDb: ConstructorParameters<typeof PostgresQuotaStore>[0]["db"] = dittofeedDb;
    expect([...sources, ...asParameters, flusherDb, quotaDb]).toHaveLength(11);
  });

  it("finds the node-postgres Pool under it at run time, without connecting", () => {
    expect(toSqlClient(dittofeedDb)?.kind).toBe("pg");
    expect(postgresAuditStore(dittofeedDb).isOk()).toBe(true);
    expect(nodePgPool.totalCount).toBe(0);
  });

  it("runs workspace-scoped transactions and migrations through its PGlite", async () => {
    expect((await migrateAuditTables(pgliteDb)).isOk()).toBe(true);
    const seen = await withWorkspace(pgliteDb, WS, async (tx) =>
      ok((await tx.query<{ w: string }>("select current_setting('tenancy.workspace_id') as w")).rows[0]?.w));
    expect(seen._unsafeUnwrap()).toBe(WS);
  });

  it("is an Err, not a throw, when a drizzle-shaped database has no client at run time", async () => {
    const clientless = { _: { session: {} } };
    expect(toSqlClient(clientless)).toBeUndefined();
    const result = await withWorkspace(clientless, WS, async () => ok(1));
    expect(result._unsafeUnwrapErr().type).toBe("InvalidInput");
    expect(postgresAuditStore(clientless).isErr()).toBe(true);
  });
});
