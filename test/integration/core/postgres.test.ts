import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { toSqlClient, type SqlClient } from "../../../src/core/postgres/sql-client.js";
import { sqlResult } from "../../../src/core/postgres/result.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { GLOBAL_TABLE_NAMES, TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { pgbouncerUrl } from "../../support/servers.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_core");
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe("postgres plumbing on a real PostgreSQL 15", () => {
  it("is PostgreSQL 15", async () => {
    const { rows } = await pool.query<{ server_version_num: string }>("show server_version_num");
    expect(Number(rows[0]?.server_version_num)).toBeGreaterThanOrEqual(150000);
    expect(Number(rows[0]?.server_version_num)).toBeLessThan(160000);
  });

  const sources: [string, () => SqlClient | undefined][] = [
    ["a pg Pool", () => toSqlClient(pool)],
    ["a drizzle node-postgres database", () => toSqlClient(drizzle({ client: pool }))],
  ];

  it.each(sources)("round-trips parameters and commits a transaction through %s", async (_name, make) => {
    const client = make();
    if (!client) throw new Error("not adapted");
    expect(client.kind).toBe("pg");
    const table = `scratch.t_${Math.random().toString(36).slice(2, 8)}`;
    await client.exec(`create schema if not exists scratch; create table ${table} (id int primary key, note text)`);
    await client.transaction(async (tx) => {
      await tx.query(`insert into ${table} values ($1, $2)`, [1, "committed"]);
    });
    await expect(
      client.transaction(async (tx) => {
        await tx.query(`insert into ${table} values ($1, $2)`, [2, "rolled back"]);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    const { rows } = await client.query<{ id: number; note: string }>(`select id, note from ${table} order by id`);
    expect(rows).toEqual([{ id: 1, note: "committed" }]);
  });

  it("maps errors to typed results: constraint violations are not retryable", async () => {
    const client = toSqlClient(pool);
    if (!client) throw new Error("not adapted");
    const result = await sqlResult("select", () => client.query("select 1/0"));
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false });
    expect(result._unsafeUnwrapErr().message).toMatch(/22012/);
  });

  it("maps an unreachable server to StoreUnavailable", async () => {
    const dead = new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 500 });
    const client = toSqlClient(dead);
    if (!client) throw new Error("not adapted");
    const result = await sqlResult("select", () => client.query("select 1"));
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
    await dead.end();
  });

  it("creates the Dittofeed-shaped fixture schema: 31 tables, 26 with a non-null uuid workspaceId FK", async () => {
    await applyFixtureSchema(pool);
    const { rows: tables } = await pool.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual([...TENANT_TABLE_NAMES, ...GLOBAL_TABLE_NAMES].sort());
    const { rows: columns } = await pool.query<{ table_name: string; data_type: string; is_nullable: string }>(
      `select table_name, data_type, is_nullable from information_schema.columns
       where table_schema = 'public' and column_name = 'workspaceId'`,
    );
    expect(columns.map((c) => c.table_name).sort()).toEqual([...TENANT_TABLE_NAMES].sort());
    expect(new Set(columns.map((c) => `${c.data_type}/${c.is_nullable}`))).toEqual(new Set(["uuid/NO"]));
    const { rows: fks } = await pool.query<{ table_name: string; delete_rule: string }>(
      `select tc.table_name, rc.delete_rule
       from information_schema.table_constraints tc
       join information_schema.key_column_usage kcu on kcu.constraint_name = tc.constraint_name
       join information_schema.referential_constraints rc on rc.constraint_name = tc.constraint_name
       join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name
       where tc.constraint_type = 'FOREIGN KEY' and kcu.column_name = 'workspaceId' and ccu.table_name = 'Workspace'`,
    );
    expect(fks.map((f) => f.table_name).sort()).toEqual([...TENANT_TABLE_NAMES].sort());
    expect(fks.filter((f) => f.delete_rule === "RESTRICT").map((f) => f.table_name)).toEqual(["Broadcast"]);
  });
});

describe("pgbouncer (transaction pooling) in front of the same Postgres", () => {
  it("runs transactions whose transaction-local settings never leak to the next client", async () => {
    const url = pgbouncerUrl(servers, new URL(database.url).pathname.slice(1));
    const bounced = new pg.Pool({ connectionString: url, max: 4 });
    const client = toSqlClient(bounced);
    if (!client) throw new Error("not adapted");
    const seen = await client.transaction(async (tx) => {
      await tx.query("select set_config('tenancy.workspace_id', $1, true)", ["8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01"]);
      const { rows } = await tx.query<{ v: string }>("select current_setting('tenancy.workspace_id', true) as v");
      return rows[0]?.v;
    });
    expect(seen).toBe("8f14e45f-ceea-4e7a-9d1b-1a2b3c4d5e01");
    const { rows } = await client.query<{ v: string | null }>("select nullif(current_setting('tenancy.workspace_id', true), '') as v");
    expect(rows[0]?.v ?? null).toBeNull();
    // Proof we went through PgBouncer: its admin console answers SHOW POOLS.
    const admin = new pg.Client({ connectionString: pgbouncerUrl(servers, "pgbouncer") });
    await admin.connect();
    const pools = await admin.query({ text: "SHOW POOLS", rowMode: "array" });
    expect(pools.rows.length).toBeGreaterThan(0);
    await admin.end();
    await bounced.end();
  });
});
