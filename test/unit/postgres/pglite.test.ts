import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { err, ok } from "neverthrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentWorkspaceTx, runInWorkspace } from "../../../src/postgres/ambient.js";
import { checkTenancy } from "../../../src/postgres/check.js";
import { withWorkspace as withWorkspaceDrizzle } from "../../../src/postgres/drizzle.js";
import { policyMigrationSql } from "../../../src/postgres/migration.js";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import type { PGliteLike, SqlExecutor } from "../../../src/core/postgres/sql-client.js";

const A = "0b9d2b35-7a2e-4c7e-9f43-2d1f0e2a0001";
const B = "0b9d2b35-7a2e-4c7e-9f43-2d1f0e2a0002";
let db: PGlite;
const asApp = (tx: SqlExecutor) => tx.query("set local role tk_app");

beforeAll(async () => {
  db = new PGlite();
  await db.exec(`create table "Segment" (id uuid primary key default gen_random_uuid(), "workspaceId" uuid not null, name text not null);
    create index on "Segment" ("workspaceId"); create unique index "Segment_ws_name" on "Segment" ("workspaceId", name);
    create role tk_app nosuperuser nobypassrls; grant select, insert, update, delete on "Segment" to tk_app;
    insert into "Segment" ("workspaceId", name) values ('${A}', 'a1'), ('${A}', 'a2'), ('${B}', 'b1');`);
  await db.exec(policyMigrationSql([{ name: "Segment", column: "workspaceId" }]).replaceAll("--> statement-breakpoint", ""));
  // Starting the WASM Postgres takes seconds on a busy machine.
}, 90_000);
afterAll(async () => {
  await db.close();
});

describe("on PGlite (the embedded default)", () => {
  it("scopes reads and refuses cross-workspace inserts for a non-superuser role", async () => {
    const read = await withWorkspace(db, A, async (tx) => {
      await asApp(tx);
      return ok((await tx.query<{ name: string }>(`select name from "Segment" order by name`)).rows.map((r) => r.name));
    });
    expect(read._unsafeUnwrap()).toEqual(["a1", "a2"]);
    const insert = await withWorkspace(db, A, async (tx) => {
      await asApp(tx);
      return ok(await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'x')`, [B]));
    });
    expect(insert._unsafeUnwrapErr().message).toMatch(/42501/);
  });

  it("rolls back on Err and keeps no context afterwards", async () => {
    const result = await withWorkspace(db, B, async (tx) => {
      await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'rolled-back')`, [B]);
      return err("stop");
    });
    expect(result._unsafeUnwrapErr()).toBe("stop");
    expect((await db.query(`select * from "Segment" where name = 'rolled-back'`)).rows).toEqual([]);
    expect((await db.query<{ s: string | null }>("select current_setting('tenancy.workspace_id', true) s")).rows[0]?.s ?? "").toBe("");
  });

  it("ambient and drizzle flavours work on PGlite too", async () => {
    const ambient = await runInWorkspace(db, B, async () => {
      const tx = currentWorkspaceTx()._unsafeUnwrap();
      await asApp(tx);
      return ok((await tx.query<{ name: string }>(`select name from "Segment"`)).rows.map((r) => r.name));
    });
    expect(ambient._unsafeUnwrap()).toEqual(["b1"]);
    const viaDrizzle = await withWorkspaceDrizzle(drizzle(db), A, async (tx) => {
      await tx.execute("set local role tk_app");
      return ok((await tx.execute(`select count(*)::int n from "Segment"`)).rows);
    });
    expect(viaDrizzle._unsafeUnwrap()).toEqual([{ n: 2 }]);
  });

  it("checkTenancy reads PGlite's catalog", async () => {
    const report = (await checkTenancy(db, { globalTables: [] }))._unsafeUnwrap();
    expect(report.tenantTables).toEqual([{ schema: "public", name: "Segment", column: "workspaceId" }]);
    expect(report.findings.map((f) => f.type)).toEqual(["PrimaryKeyWithoutWorkspace"]);
  });

  it("checkTenancy recognises the generated policies on a column whose type is a domain over uuid (printed with a ::uuid cast)", async () => {
    await db.exec(`create domain wsid as uuid; create table "Dom" (id int, "workspaceId" wsid not null); create index on "Dom" ("workspaceId")`);
    try {
      await db.exec(policyMigrationSql([{ name: "Dom", column: "workspaceId" }], { parentRead: true }).replaceAll("--> statement-breakpoint", ""));
      const report = (await checkTenancy(db, { globalTables: [] }))._unsafeUnwrap();
      expect(report.findings.filter((f) => f.table === "Dom").map((f) => `${f.type} ${f.object ?? ""}`)).toEqual([]);
    } finally {
      await db.exec(`drop table "Dom"; drop domain wsid`);
    }
  });

  it("a handled SQL error that aborted the transaction is a StoreFailed Err (COMMIT would roll back silently), plain and drizzle", async () => {
    const names = async () => (await db.query<{ name: string }>(`select name from "Segment"`)).rows.map((r) => r.name);
    const plain = await withWorkspace(db, A, async (tx) => {
      await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'lost-plain')`, [A]);
      const caught = await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'a1')`, [A]).then(() => "inserted", () => "caught");
      return ok(caught);
    });
    expect(plain._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: A });
    const viaDrizzle = await withWorkspaceDrizzle(drizzle(db), A, async (tx) => {
      await tx.execute(`insert into "Segment" ("workspaceId", name) values ('${A}', 'lost-drizzle')`);
      const caught = await Promise.resolve(tx.execute(`insert into "Segment" ("workspaceId", name) values ('${A}', 'a1')`)).then(() => "inserted", () => "caught");
      return ok(caught);
    });
    expect(viaDrizzle._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: A });
    expect(await names()).not.toContain("lost-plain");
    expect(await names()).not.toContain("lost-drizzle");
    // A healthy transaction still commits through the same check.
    expect((await withWorkspace(db, A, async (tx) => ok((await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'kept')`, [A])).rowCount))).isOk()).toBe(true);
    expect(await names()).toContain("kept");
  });

  it("asks whether the transaction can commit only after a statement failed: a clean one sends no probe", async () => {
    const statements: string[] = [];
    const counted: PGliteLike = {
      waitReady: db.waitReady,
      exec: (sql) => db.exec(sql),
      query: (text, params) => db.query(text, params),
      transaction: (fn) =>
        db.transaction((tx) =>
          fn({
            query: (text, params) => {
              statements.push(text);
              return tx.query(text, params);
            },
          }),
        ),
    };
    const clean = await withWorkspace(counted, A, async (tx) => ok((await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'counted')`, [A])).rowCount));
    expect(clean._unsafeUnwrap()).toBe(1);
    expect(statements).toHaveLength(2); // set_config and the insert
    expect(statements).not.toContain("select 1");
    statements.length = 0;
    const handled = await withWorkspace(counted, A, async (tx) =>
      ok(await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'a1')`, [A]).then(() => "inserted", () => "caught")));
    expect(handled._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: A });
    expect(statements.filter((s) => s === "select 1")).toHaveLength(1);
  });
});
