import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { afterAll, describe, expect, it } from "vitest";
import { toSqlClient } from "../../../src/core/postgres/sql-client.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";

const db = new PGlite();
afterAll(() => db.close());

describe("PGlite, the embedded Postgres default", () => {
  it("adapts a PGlite instance and a drizzle PGlite database alike", async () => {
    for (const source of [db, drizzle({ client: db })]) {
      const client = toSqlClient(source);
      expect(client?.kind).toBe("pglite");
      const { rows } = await client!.query<{ n: number }>("select $1::int + 1 as n", [41]);
      expect(rows).toEqual([{ n: 42 }]);
    }
  });

  it("commits and rolls back transactions", async () => {
    const client = toSqlClient(db)!;
    await client.exec("create table notes (id int primary key)");
    await client.transaction(async (tx) => {
      await tx.query("insert into notes values ($1)", [1]);
    });
    await expect(
      client.transaction(async (tx) => {
        await tx.query("insert into notes values ($1)", [2]);
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    expect((await client.query("select id from notes")).rows).toEqual([{ id: 1 }]);
  });

  it("holds the fixture schema", async () => {
    await applyFixtureSchema(db);
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from information_schema.columns where column_name = 'workspaceId'",
    );
    expect(rows[0]?.n).toBe(TENANT_TABLE_NAMES.length);
  });

  it("returns undefined for something that is not a database", () => {
    expect(toSqlClient({} as never)).toBeUndefined();
  });
});
