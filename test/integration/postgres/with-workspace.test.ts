import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { drizzle } from "drizzle-orm/node-postgres";
import { err, ok } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { sqlResult } from "../../../src/core/postgres/result.js";
import { CommitRolledBackError, toSqlClient, type SqlClient } from "../../../src/core/postgres/sql-client.js";
import { currentWorkspaceId, currentWorkspaceTx, runInWorkspace } from "../../../src/postgres/ambient.js";
import { withWorkspace as withWorkspaceDrizzle, workspaceScope } from "../../../src/postgres/drizzle.js";
import { policyMigrationSql } from "../../../src/postgres/migration.js";
import { BeginScoped } from "../../../src/postgres/begin-scoped.js";
import { FairPool } from "../../../src/postgres/fair-pool.js";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { segment, TENANT_TABLE_NAMES } from "../../fixtures/dittofeed-schema.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let admin: pg.Pool;
let pool: pg.Pool;
const app = `tk_ww_${Math.random().toString(36).slice(2, 8)}`;
const A = randomUUID();
const B = randomUUID();

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_pg_ww");
  admin = new pg.Pool({ connectionString: database.url, max: 2 });
  admin.on("error", () => undefined); // the forced database drop at the end terminates idle connections
  await applyFixtureSchema(admin);
  await admin.query(policyMigrationSql(TENANT_TABLE_NAMES.map((name) => ({ name })), { column: "workspaceId" }));
  await admin.query(`create role ${app} login nosuperuser nobypassrls; grant usage on schema public to ${app};
    grant select, insert, update, delete on all tables in schema public to ${app}`);
  await admin.query(`insert into "Workspace" (id, name) values ($1, 'A'), ($2, 'B')`, [A, B]);
  const url = new URL(database.url);
  url.username = app;
  pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  pool.on("error", () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await admin?.query(`drop owned by ${app}`).catch(() => undefined);
  await admin?.end();
  await database?.drop();
});

const names = async (ws: string) =>
  (await admin.query<{ name: string }>(`select name from "Segment" where "workspaceId" = $1 order by name`, [ws])).rows.map((r) => r.name);
const insertSegment = (name: string) => `insert into "Segment" ("workspaceId", name) values ((select nullif(current_setting('tenancy.workspace_id', true), '')::uuid), '${name}')`;

describe("withWorkspace on a pg Pool", () => {
  it("commits on Ok, with the workspace visible only inside", async () => {
    const result = await withWorkspace(pool, A, async (tx) => {
      await tx.query(insertSegment("committed"));
      return ok((await tx.query<{ s: string }>("select current_setting('tenancy.workspace_id') s")).rows[0]?.s);
    });
    expect(result._unsafeUnwrap()).toBe(A);
    expect(await names(A)).toContain("committed");
    const after = (await pool.query<{ s: string | null }>("select current_setting('tenancy.workspace_id', true) s")).rows[0];
    expect(after?.s ?? "").toBe("");
  });

  it("rolls back when fn returns an Err, and returns that Err", async () => {
    const result = await withWorkspace(pool, A, async (tx) => {
      await tx.query(insertSegment("returned-err"));
      return err({ type: "Nope" as const });
    });
    expect(result._unsafeUnwrapErr()).toEqual({ type: "Nope" });
    expect(await names(A)).not.toContain("returned-err");
  });

  it("rolls back when fn throws, and returns a typed error (never throws)", async () => {
    const result = await withWorkspace(pool, A, async (tx) => {
      await tx.query(insertSegment("thrown"));
      throw new Error("boom");
    });
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: A });
    expect(await names(A)).not.toContain("thrown");
  });

  it("maps a cross-workspace insert to an Err carrying SQLSTATE 42501", async () => {
    const result = await withWorkspace(pool, A, async (tx) =>
      ok(await tx.query(`insert into "Segment" ("workspaceId", name) values ($1, 'sneaky')`, [B])));
    expect(result._unsafeUnwrapErr().message).toMatch(/42501/);
    expect(await names(B)).not.toContain("sneaky");
  });

  it("rejects malformed ids before any I/O, as Err", async () => {
    let ran = false;
    for (const bad of ["", "not-a-uuid", "'; select 1; --", 42, null]) {
      const result = await withWorkspace(pool, bad as string, async () => {
        ran = true;
        return ok(1);
      });
      expect(result._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    }
    const grant = await withWorkspace(pool, A, async () => ok(1), { readWorkspaceIds: ["nope"] });
    expect(grant._unsafeUnwrapErr().type).toBe("InvalidWorkspaceId");
    expect(ran).toBe(false);
  });

  it("refuses a tx used after its transaction ended", async () => {
    let escaped: Parameters<Parameters<typeof withWorkspace>[2]>[0] | undefined;
    await withWorkspace(pool, A, async (tx) => {
      escaped = tx;
      return ok(undefined);
    });
    await expect(escaped?.query("select 1")).rejects.toThrow(/already ended/);
  });

  it("works through a drizzle node-postgres database (its pool)", async () => {
    const db = drizzle({ client: pool });
    const result = await withWorkspace(db, B, async (tx) => {
      await tx.query(insertSegment("via-drizzle-client"));
      return ok((await tx.query<{ w: string }>(`select "workspaceId" w from "Segment"`)).rows.map((r) => r.w));
    });
    expect(new Set(result._unsafeUnwrap())).toEqual(new Set([B]));
  });

  it("the drizzle flavour gives fn a drizzle tx, and rolls back on Err", async () => {
    const db = drizzle({ client: pool });
    const rows = await withWorkspaceDrizzle(db, A, async (tx) => ok(await tx.select().from(segment)));
    expect(rows._unsafeUnwrap().every((r) => r.workspaceId === A)).toBe(true);
    expect(rows._unsafeUnwrap().length).toBeGreaterThan(0);
    const failed = await withWorkspaceDrizzle(db, A, async (tx) => {
      await tx.insert(segment).values({ workspaceId: A, name: "drizzle-rolled-back" });
      return err("no" as const);
    });
    expect(failed._unsafeUnwrapErr()).toBe("no");
    expect(await names(A)).not.toContain("drizzle-rolled-back");
    const refused = await withWorkspaceDrizzle(db, A, async (tx) => ok(await tx.insert(segment).values({ workspaceId: B, name: "x" })));
    expect(refused._unsafeUnwrapErr().message).toMatch(/42501/);
  });

  it("ambient scope: deep code finds the transaction; outside it is an Err", async () => {
    const deep = async () => {
      const tx = currentWorkspaceTx();
      if (tx.isErr()) return err(tx.error);
      return ok({ id: currentWorkspaceId(), rows: (await tx.value.query<{ w: string }>(`select distinct "workspaceId" w from "Segment"`)).rows });
    };
    const inside = await runInWorkspace(pool, A.toUpperCase(), deep);
    expect(inside._unsafeUnwrap()).toEqual({ id: A, rows: [{ w: A }] });
    expect((await deep())._unsafeUnwrapErr().type).toBe("NoWorkspaceContext");
    const scope = workspaceScope(drizzle({ client: pool }));
    const drizzleRows = await scope.run(B, async () => {
      const tx = scope.tx();
      return tx.isErr() ? err(tx.error) : ok(await tx.value.select().from(segment));
    });
    expect(drizzleRows._unsafeUnwrap().every((r) => r.workspaceId === B)).toBe(true);
    expect(scope.tx().isErr()).toBe(true);
  });

  it("concurrent scopes never see each other's context", async () => {
    const wide = new pg.Pool({ connectionString: (pool.options as { connectionString: string }).connectionString, max: 6 });
    try {
      const runs = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const ws = i % 2 === 0 ? A : B;
          return runInWorkspace(wide, ws, async () => {
            await new Promise((r) => setTimeout(r, i % 3));
            const tx = currentWorkspaceTx()._unsafeUnwrap();
            const rows = (await tx.query<{ w: string }>(`select distinct "workspaceId" w from "Segment"`)).rows;
            return ok(rows.every((r) => r.w === ws) && currentWorkspaceId() === ws);
          });
        }),
      );
      expect(runs.map((r) => r._unsafeUnwrap())).toEqual(Array(60).fill(true));
    } finally {
      await wide.end();
    }
  });

  it("the policy plans as one InitPlan and an Index Cond on the workspace index (no per-row call, no Seq Scan)", async () => {
    await admin.query(`insert into "Workspace" (id, name) select gen_random_uuid(), 'bulk' || g from generate_series(1, 200) g`);
    await admin.query(`insert into "Segment" ("workspaceId", name) select w.id, 's' || g from "Workspace" w, generate_series(1, 100) g where w.name like 'bulk%'`);
    await admin.query(`analyze "Segment"`);
    const plan = await withWorkspace(pool, A, async (tx) =>
      ok((await tx.query<{ "QUERY PLAN": string }>(`explain select id, name from "Segment" where name = 's1'`)).rows.map((r) => r["QUERY PLAN"]).join("\n")));
    const text = plan._unsafeUnwrap();
    expect(text).toMatch(/InitPlan 1/);
    expect(text).toMatch(/Index Cond: \(\("workspaceId" = \$0\)/);
    expect(text).not.toMatch(/Seq Scan/);
    expect(text).not.toMatch(/Filter: .*current_setting/);
  });
});

describe("withWorkspace with pg's query_timeout set (BEGIN + set_config as one Submittable)", () => {
  const appUrl = () => (pool.options as { connectionString: string }).connectionString;
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

  it("leaves no read-timeout timer behind per call (pg clears it only when the Submittable's callback runs)", async () => {
    // A long query_timeout: a timer left behind would still be pending when counted.
    const timed = new pg.Pool({ connectionString: appUrl(), max: 2, query_timeout: 60_000 });
    timed.on("error", () => undefined);
    const fair = new FairPool(timed, { size: 2 });
    try {
      await withWorkspace(timed, A, async () => ok(undefined)); // warm: connections and their idle timers exist
      const before = timers();
      for (let i = 0; i < 40; i++) {
        const direct = await withWorkspace(timed, i % 2 === 0 ? A : B, async (tx) => ok((await tx.query("select 1 one")).rows.length));
        expect(direct._unsafeUnwrap()).toBe(1);
        const viaFair = await fair.withWorkspace(A, async (tx) => ok((await tx.query("select 1 one")).rows.length));
        expect(viaFair._unsafeUnwrap()).toBe(1);
      }
      // One BeginScoped per call, 80 calls: a stray timer each would add 80.
      expect(timers() - before).toBeLessThan(5);
    } finally {
      fair.close();
      await timed.end();
    }
  });

  it("no uncaught error once query_timeout has passed (pg < 8.19 called the Submittable's missing callback: TypeError)", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    const timed = new pg.Pool({ connectionString: appUrl(), max: 2, query_timeout: 300 });
    timed.on("error", () => undefined);
    try {
      const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => withWorkspace(timed, i % 2 === 0 ? A : B, async () => ok(i))));
      expect(runs.map((r) => r._unsafeUnwrap())).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await sleep(700); // past query_timeout: a timer left behind fires now
      expect(uncaught).toEqual([]);
      const after = await withWorkspace(timed, A, async (tx) => ok((await tx.query<{ w: string }>("select current_setting('tenancy.workspace_id') w")).rows[0]?.w));
      expect(after._unsafeUnwrap()).toBe(A);
    } finally {
      process.off("uncaughtException", onUncaught);
      process.off("unhandledRejection", onUncaught);
      await timed.end();
    }
  });

  it("a BeginScoped the server refuses settles once, as the server's error, and clears pg's timer too", async () => {
    const client = new pg.Client({ connectionString: appUrl(), query_timeout: 60_000 });
    await client.connect();
    try {
      // An aborted transaction: the BEGIN of the Submittable then fails with 25P02.
      const submit = (begin: BeginScoped) => (client as unknown as { query(submittable: BeginScoped): unknown }).query(begin);
      await client.query("BEGIN");
      await client.query("select 1/0").catch(() => undefined);
      const before = timers();
      const failures: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        const begin = new BeginScoped(A, null);
        submit(begin);
        failures.push(await begin.done.then(() => "resolved", (e: { code?: string }) => e.code));
      }
      expect(failures).toEqual(Array(20).fill("25P02"));
      expect(timers() - before).toBeLessThan(5);
      await client.query("ROLLBACK");
      const begin = new BeginScoped(B, null);
      submit(begin);
      await begin.done;
      expect((await client.query<{ w: string }>("select current_setting('tenancy.workspace_id') w")).rows[0]?.w).toBe(B);
      await client.query("ROLLBACK");
    } finally {
      await client.end();
    }
  });
});

describe("withWorkspace on a pg Pool in pipeline mode (pg 8.23+ refuses custom query classes there)", () => {
  const appUrl = () => (pool.options as { connectionString: string }).connectionString;

  it("scopes, commits, rolls back and reports a handled error, directly and through FairPool", async () => {
    const pipelined = new pg.Pool({ connectionString: appUrl(), max: 2, pipeline: true } as pg.PoolConfig);
    pipelined.on("error", () => undefined);
    const fair = new FairPool(pipelined, { size: 2 });
    try {
      const probe = await pipelined.connect();
      expect((probe as unknown as { pipeline?: unknown }).pipeline).toBe(true); // the installed pg has pipeline mode
      probe.release();
      type Fn = Parameters<typeof fair.withWorkspace<unknown, unknown>>[1];
      const runners = { pool: (id: string, fn: Fn) => withWorkspace(pipelined, id, fn), fair: (id: string, fn: Fn) => fair.withWorkspace(id, fn) };
      for (const [label, run] of Object.entries(runners)) {
        const committed = await run(B, async (tx) => {
          await tx.query(insertSegment(`pipelined-${label}`));
          return ok((await tx.query<{ w: string }>("select current_setting('tenancy.workspace_id') w")).rows[0]?.w);
        });
        expect(committed._unsafeUnwrap()).toBe(B);
        expect(await names(B)).toContain(`pipelined-${label}`);
        const seen = await run(A, async (tx) => ok((await tx.query<{ name: string }>(`select name from "Segment"`)).rows.map((r) => r.name)));
        expect(seen._unsafeUnwrap()).not.toContain(`pipelined-${label}`);
        const rolledBack = await run(B, async (tx) => {
          await tx.query(insertSegment(`pipelined-err-${label}`));
          return err("stop");
        });
        expect(rolledBack._unsafeUnwrapErr()).toBe("stop");
        await run(B, async (tx) => ok(await tx.query(insertSegment(`pipelined-dup-${label}`))));
        const handled = await run(B, async (tx) => {
          await tx.query(insertSegment(`pipelined-lost-${label}`));
          return ok(await tx.query(insertSegment(`pipelined-dup-${label}`)).then(() => "inserted", () => "caught"));
        });
        expect(handled._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: B });
        const names_ = await names(B);
        expect(names_).not.toContain(`pipelined-err-${label}`);
        expect(names_).not.toContain(`pipelined-lost-${label}`);
      }
      // No context leaks onto the pooled connection.
      const after = (await pipelined.query<{ s: string | null }>("select current_setting('tenancy.workspace_id', true) s")).rows[0];
      expect(after?.s ?? "").toBe("");
    } finally {
      fair.close();
      await pipelined.end();
    }
  });
});

describe("a transaction fn aborted by an SQL error it handled is never reported as committed", () => {
  // Postgres answers COMMIT of an aborted transaction with ROLLBACK, not an error.
  const code = (e: unknown) => String((e as { code?: unknown }).code);

  it("pg Pool and FairPool: a handled unique violation is a StoreFailed Err, and nothing is written", async () => {
    await withWorkspace(pool, A, async (tx) => ok(await tx.query(insertSegment("dup-existing"))));
    const fair = new FairPool(pool, { size: 1 });
    try {
      type Fn = Parameters<typeof fair.withWorkspace<string, never>>[1];
      const runners = { pool: (fn: Fn) => withWorkspace(pool, A, fn), fair: (fn: Fn) => fair.withWorkspace(A, fn) };
      for (const [label, run] of Object.entries(runners)) {
        const result = await run(async (tx) => {
          await tx.query(insertSegment(`dup-first-${label}`));
          const caught = await tx.query(insertSegment("dup-existing")).then(() => "inserted", code);
          return ok(caught);
        });
        expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false, workspaceId: A });
        expect(result._unsafeUnwrapErr().message).toMatch(/ROLLBACK/);
        expect(await names(A)).not.toContain(`dup-first-${label}`);
      }
      // The connection is clean afterwards: the next transaction commits.
      expect((await withWorkspace(pool, A, async (tx) => ok(await tx.query(insertSegment("after-abort")))))._unsafeUnwrap()).toBeDefined();
      expect(await names(A)).toContain("after-abort");
    } finally {
      fair.close();
    }
  });

  it("a pg-backed SqlClient (its transaction commits out of sight): the same StoreFailed Err", async () => {
    const sqlClient = toSqlClient(pool);
    if (sqlClient === undefined) throw new Error("no SqlClient");
    const result = await withWorkspace(sqlClient, A, async (tx) => {
      await tx.query(insertSegment("dup-first-sqlclient"));
      return ok(await tx.query(insertSegment("dup-existing")).then(() => "inserted", code));
    });
    expect(result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false, workspaceId: A });
    expect(await names(A)).not.toContain("dup-first-sqlclient");
    const healthy = await withWorkspace(sqlClient, A, async (tx) => ok((await tx.query(insertSegment("sqlclient-kept"))).rowCount));
    expect(healthy._unsafeUnwrap()).toBe(1);
    expect(await names(A)).toContain("sqlclient-kept");
  });

  it("a SqlClient: only a transaction in which a statement failed is asked whether it can commit (a clean one sends no probe)", async () => {
    const base = toSqlClient(pool);
    if (base === undefined) throw new Error("no SqlClient");
    let statements: string[] = [];
    const counted: SqlClient = {
      kind: "pg",
      query: (text, params) => base.query(text, params),
      exec: (text) => base.exec(text),
      transaction: (fn) =>
        base.transaction((tx) =>
          fn({
            query: (text, params) => {
              statements.push(text);
              return tx.query(text, params);
            },
          }),
        ),
    };
    const run = async <T>(fn: Parameters<typeof withWorkspace<T, never>>[2]) => {
      statements = [];
      const result = await withWorkspace(counted, A, fn);
      return { result, probes: statements.filter((s) => s === "select 1").length, count: statements.length };
    };

    const clean = await run(async (tx) => ok((await tx.query(insertSegment("counted-clean"))).rowCount));
    expect(clean.result._unsafeUnwrap()).toBe(1);
    expect(clean).toMatchObject({ probes: 0, count: 2 }); // set_config and fn's insert: nothing else
    expect(await names(A)).toContain("counted-clean");

    const handled = await run(async (tx) => {
      await tx.query(insertSegment("counted-lost"));
      return ok(await tx.query(insertSegment("dup-existing")).then(() => "inserted", code));
    });
    expect(handled.result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false, workspaceId: A });
    expect(handled.result._unsafeUnwrapErr().message).toMatch(/25P02/);
    expect(handled.probes).toBe(1);
    expect(await names(A)).not.toContain("counted-lost");

    const savepoint = await run(async (tx) => {
      await tx.query(insertSegment("counted-savepoint"));
      await tx.query("savepoint s");
      const caught = await tx.query(insertSegment("dup-existing")).then(() => "inserted", code);
      await tx.query("rollback to savepoint s");
      return ok(caught);
    });
    expect(savepoint.result._unsafeUnwrap()).toBe("23505");
    expect(savepoint.probes).toBe(1);
    expect(await names(A)).toContain("counted-savepoint");

    // A failure fn does not handle: a throw rolls back without a probe.
    const thrown = await run(async (tx) => ok(await tx.query(insertSegment("dup-existing"))));
    expect(thrown.result._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", workspaceId: A });
    expect(thrown.probes).toBe(0);
  });

  it("SqlClient.transaction on a pg Pool: a COMMIT answered with ROLLBACK is thrown (25P02), never returned as success", async () => {
    const sqlClient = toSqlClient(pool);
    if (sqlClient === undefined) throw new Error("no SqlClient");
    const table = `"Segment"`;
    const aborted = sqlClient.transaction(async (tx) => {
      await tx.query(`select set_config('tenancy.workspace_id', $1, true)`, [A]);
      await tx.query(insertSegment("sqlclient-tx-lost"));
      const caught = await tx.query(`insert into ${table} ("workspaceId", name) values ($1, 'dup-existing')`, [A]).then(() => "inserted", code);
      return caught;
    });
    await expect(aborted).rejects.toBeInstanceOf(CommitRolledBackError);
    await expect(aborted).rejects.toMatchObject({ code: "25P02", message: expect.stringMatching(/^COMMIT answered ROLLBACK/) });
    expect(await names(A)).not.toContain("sqlclient-tx-lost");
    // As its callers (audit, quota, crypto, metrics stores) see it: a non-retryable StoreFailed.
    const asCallersSee = await sqlResult("store write", () =>
      sqlClient.transaction(async (tx) => {
        await tx.query(`select set_config('tenancy.workspace_id', $1, true)`, [A]);
        await tx.query(insertSegment("dup-existing")).catch(() => undefined);
        return "written";
      }),
    );
    expect(asCallersSee._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false });
    expect(asCallersSee._unsafeUnwrapErr().message).toMatch(/SQLSTATE 25P02/);
    // The connection went back clean: a healthy transaction commits and returns its value.
    const healthy = await sqlClient.transaction(async (tx) => {
      await tx.query(`select set_config('tenancy.workspace_id', $1, true)`, [A]);
      return (await tx.query(insertSegment("sqlclient-tx-kept"))).rowCount;
    });
    expect(healthy).toBe(1);
    expect(await names(A)).toContain("sqlclient-tx-kept");
  });

  it("pg Pool: an error handled inside a savepoint still commits (no false alarm)", async () => {
    const result = await withWorkspace(pool, A, async (tx) => {
      await tx.query(insertSegment("kept-beside-savepoint"));
      await tx.query("savepoint s");
      const caught = await tx.query(insertSegment("dup-existing")).then(() => "inserted", code);
      await tx.query("rollback to savepoint s");
      return ok(caught);
    });
    expect(result._unsafeUnwrap()).toBe("23505");
    expect(await names(A)).toContain("kept-beside-savepoint");
  });

  it("drizzle flavour: a handled unique violation is a StoreFailed Err; a nested (savepoint) one is fine", async () => {
    const db = drizzle({ client: pool });
    const failed = await withWorkspaceDrizzle(db, A, async (tx) => {
      await tx.insert(segment).values({ workspaceId: A, name: "drizzle-dup-first" });
      const caught = await tx.insert(segment).values({ workspaceId: A, name: "dup-existing" }).then(() => "inserted", (e: { cause?: unknown }) => code(e.cause ?? e));
      return ok(caught);
    });
    expect(failed._unsafeUnwrapErr()).toMatchObject({ type: "StoreFailed", retryable: false, workspaceId: A });
    expect(await names(A)).not.toContain("drizzle-dup-first");
    const nested = await withWorkspaceDrizzle(db, A, async (tx) => {
      await tx.insert(segment).values({ workspaceId: A, name: "drizzle-kept" });
      const caught = await tx
        .transaction(async (inner) => inner.insert(segment).values({ workspaceId: A, name: "dup-existing" }))
        .then(() => "inserted", () => "failed");
      return ok(caught);
    });
    expect(nested._unsafeUnwrap()).toBe("failed");
    expect(await names(A)).toContain("drizzle-kept");
  });
});
