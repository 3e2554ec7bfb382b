import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/pglite";
import fc from "fast-check";
import { err, ok, type Result } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PostgresSource, SqlExecutor } from "../../../src/core/postgres/sql-client.js";
import { currentWorkspaceTx, runInWorkspace } from "../../../src/postgres/ambient.js";
import { checkTenancy } from "../../../src/postgres/check.js";
import { withWorkspace as withWorkspaceDrizzle, workspacePolicies, workspaceScope } from "../../../src/postgres/drizzle.js";
import { FairPool, type FairPoolOptions } from "../../../src/postgres/fair-pool.js";
import { policyMigrationSql, tableRevertStatements } from "../../../src/postgres/migration.js";
import { assertAppRole } from "../../../src/postgres/role.js";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import { expectErrIff, expectTypedErr, hostile, hostileNoProxy, idLike, isValidId, noThrow, str, W, W2 } from "./hostile-values.js";

/**
 * The project standard (hostile-values.ts) for tenancykit/postgres on PGlite:
 * generated SQL quotes every identifier (checked by running it, not by reading
 * it), a scoped transaction whose input is bad or whose fn fails leaves no row
 * and no setting behind, and option objects of any shape are a typed Err, never
 * an exception. FairPool runs over a real pg.Pool pointed at a closed port
 * (connects fail at once), so its counts can be checked without a server.
 */

let db: PGlite;
const ROLES = ['tk role "quoted"', "tk;role", "tk_rôle_名", "R".repeat(70)];

beforeAll(async () => {
  db = new PGlite();
  await db.exec(`create table victim (workspace_id uuid);
    create table scoped (workspace_id uuid not null, note text);
    create table "Scoped" ("workspaceId" uuid not null, note text);`);
  for (const role of ROLES) await db.exec(await formatted("create role %I", role));
}, 90_000);
afterAll(async () => {
  await db.close();
});

// ---------------------------------------------------------------- identifiers

/** What Postgres stores for a JS string: UTF-8 (a lone surrogate becomes U+FFFD), clipped to 63 bytes on a character boundary. */
function pgName(name: string): string {
  let out = "";
  let bytes = 0;
  for (const ch of new TextDecoder().decode(new TextEncoder().encode(name))) {
    const n = new TextEncoder().encode(ch).length;
    if (bytes + n > 63) break;
    out += ch;
    bytes += n;
  }
  return out;
}
/** Postgres cannot hold an empty identifier or one with U+0000. */
const representable = (name: string): boolean => name.length > 0 && !name.includes("\u0000");
const SYSTEM_COLUMNS = new Set(["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"]);

const identifier: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "Segment", "workspaceId", "workspace_id", 'a"b', '"', '""', '"; drop table victim; --', "x; drop table victim; --", "it's",
    "$1", "\\", "Ünïcødé", "名前", "👩‍👩‍👧", "sp ace", "UPPER", "select", "public", "\u0000", "a\u0000b", "", "\n", "\t;", "--", "/*", "*/",
    "e'x'", "$$", "$tag$", "\u202e", "\ufeff",
  ),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }),
  fc.string({ unit: "binary", maxLength: 8 }),
  // Over 63 bytes, with multi-byte characters straddling the limit.
  fc.tuple(fc.integer({ min: 20, max: 80 }), fc.constantFrom("a", "é", "名", "👩", '"', ";")).map(([n, ch]) => ch.repeat(n)),
  fc.tuple(fc.string({ maxLength: 6 }), fc.integer({ min: 58, max: 66 })).map(([s, n]) => `${"p".repeat(n)}${s}`),
);

async function formatted(template: string, ...names: string[]): Promise<string> {
  return (await db.query<{ q: string }>(`select format('${template}', ${names.map((_, i) => `$${i + 1}::text`).join(", ")}) q`, names)).rows[0]!.q;
}

/** Every policy and every table with row level security, database-wide. */
async function snapshot(): Promise<string> {
  const policies = await db.query(`select schemaname, tablename, policyname, cmd, roles::text from pg_policies order by 1, 2, 3`);
  const rls = await db.query(`select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relrowsecurity or c.relforcerowsecurity order by 1, 2`);
  const tables = await db.query(`select count(*)::int n from pg_class where relkind = 'r'`);
  return JSON.stringify([policies.rows, rls.rows, tables.rows]);
}

async function execOk(text: string): Promise<unknown> {
  try {
    await db.exec(text);
    return undefined;
  } catch (thrown) {
    return thrown ?? "failed";
  }
}

describe("policyMigrationSql / tableRevertStatements / workspacePolicies with hostile identifiers and options", () => {
  it("the migration, run on PGlite, does exactly what it says on the named table (or fails as a whole when Postgres cannot hold a name), and the revert undoes it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(identifier.filter((s) => !s.startsWith("pg_") && s !== "information_schema"), { nil: undefined }),
        identifier,
        identifier,
        fc.record({ prefix: fc.option(identifier, { nil: undefined }), parentRead: fc.boolean(), roles: fc.option(fc.subarray([...ROLES, "public", "PUBLIC"]), { nil: undefined }) }),
        async (schema, name, column, { prefix, parentRead, roles }) => {
          const table = { name, column, ...(schema === undefined ? {} : { schema }) };
          const options = { parentRead, ...(prefix === undefined ? {} : { prefix }), ...(roles === undefined ? {} : { roles }) };
          const what = `policyMigrationSql([${str(table)}], ${str(options)})`;
          const schemaName = schema ?? "public";
          // The prefix only starts a name ("" gives "_select"): only U+0000 makes it unholdable.
          const holdable = [schemaName, name, column].every(representable) && !(prefix ?? "").includes("\u0000");
          // A scratch table with that name, made by Postgres's own quoting (format %I), in a scratch schema.
          let made = false;
          if (representable(schemaName) && representable(name) && representable(column) && !SYSTEM_COLUMNS.has(pgName(column))) {
            const setup = await execOk(await formatted("create schema if not exists %I; create table %I.%I (%I uuid)", schemaName, schemaName, name, column));
            expect(setup, `scratch table for ${what}`).toBeUndefined();
            made = true;
          }
          const before = await snapshot();
          try {
            const text = await noThrow(what, () => policyMigrationSql([table], options));
            const failed = await execOk(text);
            if (!made || !holdable) {
              expect(failed, `${what} must fail when Postgres cannot hold a name`).toBeDefined();
              expect(await snapshot(), `${what}: a failed migration changes nothing`).toBe(before);
              return;
            }
            expect(failed, `${what} must run`).toBeUndefined();
            // Exactly this table's RLS flags and its own policies changed; nothing else.
            const rel = await db.query<{ enabled: boolean; forced: boolean }>(
              `select c.relrowsecurity enabled, c.relforcerowsecurity forced from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1::text::name and c.relname = $2::text::name`,
              [schemaName, name],
            );
            expect(rel.rows, what).toEqual([{ enabled: true, forced: true }]);
            const policies = await db.query<{ name: string; cmd: string; roles: string[]; expr: string }>(
              `select p.polname::text as name, p.polcmd::text as cmd,
                  coalesce((select array_agg(case when r = 0 then 'public' else pg_get_userbyid(r)::text end order by 1) from unnest(p.polroles) r), '{}') as roles,
                  coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' / ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') as expr
                from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = $1::text::name and c.relname = $2::text::name order by 1`,
              [schemaName, name],
            );
            const expectedCmds = ["r", "a", "w", "d", ...(parentRead ? ["r"] : [])].sort();
            expect(policies.rows.map((p) => p.cmd).sort(), `${what}: one policy per command (no two names collapsed into one)`).toEqual(expectedCmds);
            const p = prefix ?? "tenancy";
            const suffixes = ["select", "insert", "update", "delete", ...(parentRead ? ["read_grant"] : [])];
            if (suffixes.every((s) => pgName(`${p}_${s}`) === `${p}_${s}`.normalize() && pgName(`${p}_${s}`).length === `${p}_${s}`.length)) {
              expect(policies.rows.map((r) => r.name).sort(), what).toEqual(suffixes.map((s) => `${p}_${s}`).sort());
            }
            const quotedColumn = (await db.query<{ q: string }>("select quote_ident($1::text::name::text) q", [column])).rows[0]!.q;
            const expectedRoles = roles === undefined || roles.length === 0 || roles.some((r) => r.toLowerCase() === "public") ? null : [...new Set(roles.map(pgName))].sort();
            for (const policy of policies.rows) {
              expect(policy.expr, `${what}: policy ${policy.name} tests the column`).toContain(`${quotedColumn} = `);
              if (expectedRoles === null) expect(policy.roles, what).toContain("public");
              else expect([...policy.roles].sort(), what).toEqual(expectedRoles);
            }
            const after = JSON.parse(await snapshot()) as [unknown[], { nspname: string; relname: string }[], unknown];
            expect(after[0].length - (JSON.parse(before) as unknown[][])[0]!.length, `${what}: no other policy`).toBe(expectedCmds.length);
            // The revert undoes it exactly.
            expect(await execOk(tableRevertStatements(table, options).map((s) => `${s};`).join("\n")), `revert of ${what}`).toBeUndefined();
            expect(await snapshot(), `revert of ${what} restores the catalog`).toBe(before);
          } finally {
            if (made) {
              if (schemaName === "public") await db.exec(await formatted("drop table %I.%I", schemaName, name));
              else await db.exec(await formatted("drop schema %I cascade", schemaName));
            }
          }
          expect((await db.query(`select 1 from pg_class where relname = 'victim'`)).rows.length, "victim table survives").toBe(1);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  it("workspacePolicies (drizzle) names one distinct policy per command whatever the prefix", () => {
    fc.assert(
      fc.property(identifier, fc.option(identifier, { nil: undefined }), fc.boolean(), (column, prefix, parentRead) => {
        const policies = workspacePolicies(column, { parentRead, ...(prefix === undefined ? {} : { prefix }) });
        expect(policies.length).toBe(parentRead ? 5 : 4);
        // Postgres keeps the first 63 bytes of a name: the names must differ there too.
        const names = policies.map((p) => pgName(p.name));
        expect(new Set(names).size, `workspacePolicies(${str(column)}, ${str(prefix)}): ${str(names)}`).toBe(names.length);
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- withWorkspace (core, drizzle, ambient)

/** Option objects of any shape (no throwing reads: the library must read them). */
const readIds: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constant([]),
  fc.array(fc.constantFrom(W, W2), { minLength: 1, maxLength: 2 }),
  fc.array(idLike, { minLength: 1, maxLength: 2 }),
  fc.constantFrom(null, "", W, 0, { length: 0 }, { 0: W, length: 1 }),
  hostileNoProxy,
);
const scopedOptions: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: readIds.map((r) => (r === undefined ? {} : { readWorkspaceIds: r })) },
  { weight: 1, arbitrary: fc.constantFrom(null, 0, "x", true) },
);
const optionsBad = (o: unknown): boolean => {
  if (o === undefined) return false;
  if (typeof o !== "object" || o === null) return true;
  const r = (o as { readWorkspaceIds?: unknown }).readWorkspaceIds;
  return r !== undefined && (!Array.isArray(r) || !r.every(isValidId));
};

type Outcome = "ok" | "err" | "throw" | "undefined" | "plain";
const outcome = fc.constantFrom<Outcome>("ok", "err", "throw", "undefined", "plain");
const STOP = { type: "Stop", message: "fn said no" };

/** What fn returns, after its insert, for each outcome. */
function finish(o: Outcome): Result<string, typeof STOP> {
  if (o === "ok") return ok("done");
  if (o === "err") return err(STOP);
  if (o === "throw") throw new Error("fn threw");
  return (o === "undefined" ? undefined : { value: 1 }) as never;
}

const marker = () => `m-${Math.random().toString(36).slice(2)}`;
const rowsWith = async (note: string) => (await db.query(`select 1 from scoped where note = $1`, [note])).rows.length;
const settingLeft = async () => (await db.query<{ s: string | null }>("select current_setting('tenancy.workspace_id', true) s")).rows[0]?.s ?? "";

function judge(result: Result<unknown, unknown>, bad: boolean, o: Outcome, what: string): void {
  if (bad) {
    expectTypedErr(result, what, ["InvalidWorkspaceId", "InvalidInput"]);
    return;
  }
  if (o === "ok") expect(result.isOk() && result.value, what).toBe("done");
  else if (o === "err") expect(result.isErr() && result.error, what).toBe(STOP);
  else expectTypedErr(result, `${what} (fn ${o})`);
}

describe("withWorkspace, its drizzle flavour and runInWorkspace with hostile ids, options and fns", () => {
  const flavours = {
    core: (id: unknown, fn: (insert: (note: string, setting: string[]) => Promise<void>) => Promise<Result<string, typeof STOP>>, options: unknown) =>
      withWorkspace(db, id as string, async (tx: SqlExecutor) =>
        fn(async (note, seen) => {
          seen.push((await tx.query<{ s: string }>("select current_setting('tenancy.workspace_id', true) s")).rows[0]!.s);
          await tx.query("insert into scoped (workspace_id, note) values (current_setting('tenancy.workspace_id')::uuid, $1)", [note]);
        }), options as never),
    drizzle: (id: unknown, fn: (insert: (note: string, setting: string[]) => Promise<void>) => Promise<Result<string, typeof STOP>>, options: unknown) =>
      withWorkspaceDrizzle(drizzle(db), id as string, async (tx) =>
        fn(async (note, seen) => {
          seen.push(((await tx.execute(sql`select current_setting('tenancy.workspace_id', true) s`)) as { rows: { s: string }[] }).rows[0]!.s);
          await tx.execute(sql`insert into scoped (workspace_id, note) values (current_setting('tenancy.workspace_id')::uuid, ${note})`);
        }), options as never),
    ambient: (id: unknown, fn: (insert: (note: string, setting: string[]) => Promise<void>) => Promise<Result<string, typeof STOP>>, options: unknown) =>
      runInWorkspace(db, id as string, async () =>
        fn(async (note, seen) => {
          const tx = currentWorkspaceTx()._unsafeUnwrap();
          seen.push((await tx.query<{ s: string }>("select current_setting('tenancy.workspace_id', true) s")).rows[0]!.s);
          await tx.query("insert into scoped (workspace_id, note) values (current_setting('tenancy.workspace_id')::uuid, $1)", [note]);
        }), options as never),
    scope: (id: unknown, fn: (insert: (note: string, setting: string[]) => Promise<void>) => Promise<Result<string, typeof STOP>>, options: unknown) => {
      const scope = workspaceScope(drizzle(db));
      return scope.run(id as string, async () =>
        fn(async (note, seen) => {
          const tx = scope.tx()._unsafeUnwrap();
          seen.push(((await tx.execute(sql`select current_setting('tenancy.workspace_id', true) s`)) as { rows: { s: string }[] }).rows[0]!.s);
          await tx.execute(sql`insert into scoped (workspace_id, note) values (current_setting('tenancy.workspace_id')::uuid, ${note})`);
        }), options as never);
    },
  };

  for (const [flavour, run] of Object.entries(flavours)) {
    it(`${flavour}: Err exactly for a bad id or options, before fn runs; fn's Err, throw or non-Result rolls back; no row and no setting left behind`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(W, W.toUpperCase()), idLike), scopedOptions, outcome, async (id, options, o) => {
          const bad = !isValidId(id) || optionsBad(options);
          const note = marker();
          const seen: string[] = [];
          let called = false;
          const what = `${flavour} withWorkspace(${str(id)}, fn → ${o}, ${str(options)})`;
          const result = await noThrow(what, () =>
            run(id, async (insert) => {
              called = true;
              await insert(note, seen);
              return finish(o);
            }, options),
          );
          judge(result, bad, o, what);
          expect(called, `${what}: fn runs exactly for good input`).toBe(!bad);
          if (called) expect(seen, `${what}: fn sees the normalised id`).toEqual([(id as string).toLowerCase()]);
          expect(await rowsWith(note), `${what}: the row is committed exactly on Ok`).toBe(!bad && o === "ok" ? 1 : 0);
          expect(await settingLeft(), `${what}: no setting outlives the transaction`).toBe("");
          expect(currentWorkspaceTx().isErr(), `${what}: no ambient transaction afterwards`).toBe(true);
        }),
        { numRuns: 50 },
      );
    }, 30_000);
  }

  it("a db that is no Pool, drizzle database or PGlite is an InvalidInput Err, for every entry", async () => {
    const badDb = fc.oneof(hostileNoProxy, fc.constantFrom({ $client: null }, { $client: 5 }, { $client: {} }, { connect: 1 }, { query: "x" }));
    await fc.assert(
      fc.asyncProperty(badDb, async (source) => {
        let called = false;
        const fn = async () => {
          called = true;
          return ok(1);
        };
        const calls: [string, () => Promise<Result<unknown, unknown>>][] = [
          ["withWorkspace", () => withWorkspace(source as PostgresSource, W, fn)],
          ["runInWorkspace", () => runInWorkspace(source as PostgresSource, W, fn)],
          ["checkTenancy", () => checkTenancy(source as PostgresSource)],
          ["assertAppRole", () => assertAppRole(source as PostgresSource)],
        ];
        for (const [name, call] of calls) {
          const what = `${name}(${str(source)})`;
          expectTypedErr(await noThrow(what, call), what, ["InvalidInput"]);
        }
        expect(called).toBe(false);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- checkTenancy / assertAppRole options

const strings = (o: unknown) => Array.isArray(o) && o.every((s) => typeof s === "string" && !s.includes("\u0000"));
const stringList: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.array(fc.oneof(fc.constantFrom("public", "scratch", "nope", "\u0000"), fc.string({ maxLength: 8 })), { maxLength: 3 }),
  fc.array(hostile, { minLength: 1, maxLength: 2 }),
  hostileNoProxy,
);
const flag = fc.oneof(fc.constantFrom(undefined, true, false), hostileNoProxy);

describe("checkTenancy and assertAppRole with hostile options", () => {
  it("checkTenancy: Err exactly for options of a bad shape, Ok with a well-formed report otherwise", async () => {
    const globalTables = fc.oneof(
      fc.constant(undefined),
      fc.array(fc.record({ name: fc.constantFrom("victim", "x"), reason: fc.constantFrom("global", "membership", "scoped-through-parent", "deprecated") }), { maxLength: 2 }),
      fc.array(hostileNoProxy, { minLength: 1, maxLength: 2 }),
      hostileNoProxy,
    );
    const options = fc.oneof(
      fc.record({ schemas: stringList, column: fc.oneof(fc.constantFrom(undefined, "workspace_id", "workspaceId", "note", ""), hostileNoProxy), globalTables }, { requiredKeys: [] }),
      fc.constantFrom(undefined, null, 0, "public"),
    );
    await fc.assert(
      fc.asyncProperty(options, async (o) => {
        const r = o as { schemas?: unknown; column?: unknown; globalTables?: unknown } | undefined;
        const entryOk = (g: unknown) => typeof g === "object" && g !== null && typeof (g as { name?: unknown }).name === "string" &&
          ["global", "membership", "scoped-through-parent", "deprecated"].includes((g as { reason?: unknown }).reason as string);
        const bad = o !== undefined && (typeof o !== "object" || o === null ||
          (r!.schemas !== undefined && !strings(r!.schemas)) ||
          (r!.column !== undefined && (typeof r!.column !== "string" || r!.column.includes("\u0000"))) ||
          (r!.globalTables !== undefined && (!Array.isArray(r!.globalTables) || !r!.globalTables.every(entryOk))));
        const what = `checkTenancy(db, ${str(o)})`;
        const result = await noThrow(what, () => checkTenancy(db, o as never));
        expectErrIff(result, bad, what);
        if (result.isOk()) {
          expect(result.value.ok).toBe(result.value.findings.length === 0);
          for (const t of result.value.tenantTables) expect(typeof t.column, what).toBe("string");
        }
      }),
      { numRuns: 80 },
    );
  });

  /** Whether the current role owns a table in `schemas` with one of `columns` (read from the catalog). */
  const ownsTenantTable = async (schemas: string[], columns: string[]) =>
    (await db.query<{ owns: boolean }>(
      `select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
         where c.relkind in ('r', 'p') and n.nspname = any($1::text[]) and a.attname = any($2::text[]) and not a.attisdropped
           and pg_has_role(current_user, c.relowner, 'MEMBER')) as owns`, [schemas, columns])).rows[0]?.owns === true;

  it("assertAppRole: a bad option shape is InvalidInput; otherwise PGlite's superuser is refused unless every allow flag that applies is exactly true", async () => {
    const options = fc.oneof(
      fc.record({ columns: stringList, schemas: stringList, allowSuperuser: flag, allowBypassRls: flag, allowOwner: flag }, { requiredKeys: [] }),
      fc.constantFrom(undefined, null, 0, "x"),
    );
    await fc.assert(
      fc.asyncProperty(options, async (o) => {
        const r = o as Record<string, unknown> | undefined;
        const bool = (v: unknown) => v === undefined || typeof v === "boolean";
        const bad = o !== undefined && (typeof o !== "object" || o === null ||
          (r!.columns !== undefined && !strings(r!.columns)) || (r!.schemas !== undefined && !strings(r!.schemas)) ||
          !bool(r!.allowSuperuser) || !bool(r!.allowBypassRls) || !bool(r!.allowOwner));
        const what = `assertAppRole(db, ${str(o)})`;
        const result = await noThrow(what, () => assertAppRole(db, o as never));
        if (bad) {
          expectTypedErr(result, what, ["InvalidInput"]);
          return;
        }
        // Owning a tenant table matters only when the checked schemas and columns find one
        // (schemas: [] finds none), as the catalog itself says.
        const owns = await ownsTenantTable((r?.schemas as string[] | undefined) ?? ["public"], (r?.columns as string[] | undefined) ?? ["workspace_id", "workspaceId"]);
        const allowed = r?.allowSuperuser === true && r.allowBypassRls === true && (r.allowOwner === true || !owns);
        if (allowed) expect(result.isOk(), what).toBe(true);
        else expectTypedErr(result, what, ["UnsafeAppRole"]);
      }),
      { numRuns: 80 },
    );
  });
});

// ---------------------------------------------------------------- FairPool

/** A real pg.Pool on a port nothing listens on: every connect is refused at once. */
const refusing = () => new pg.Pool({ connectionString: "postgres://tk:tk@127.0.0.1:1/none", max: 2, connectionTimeoutMillis: 2_000 });

const positiveInt = (v: unknown, max = Infinity) => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= max;
const TIMER_MAX = 2 ** 31 - 1;
const count = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 53, "4"), hostile);

describe("FairPool with hostile options, ids and misuse", () => {
  it("the constructor refuses bad options with one TypeError naming them (the constructors' convention) and takes good ones", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ size: count, maxPerWorkspace: count, acquireTimeoutMs: count, maxWaitingPerWorkspace: count, maxTrackedWorkspaces: count }, { requiredKeys: [] }),
          fc.constantFrom(undefined, null, 5, "x"),
        ),
        (o) => {
          const r = o as Record<string, unknown> | undefined;
          const problems =
            typeof o !== "object" || o === null
              ? ["options"]
              : [
                  ...(positiveInt(r!.size) ? [] : ["size"]),
                  ...(["maxPerWorkspace", "maxWaitingPerWorkspace", "maxTrackedWorkspaces"] as const).filter((k) => r![k] !== undefined && !positiveInt(r![k])),
                  ...(r!.acquireTimeoutMs !== undefined && !positiveInt(r!.acquireTimeoutMs, TIMER_MAX) ? ["acquireTimeoutMs"] : []),
                ];
          const pool = refusing();
          let thrown: unknown;
          try {
            new FairPool(pool, o as FairPoolOptions).close();
          } catch (e) {
            thrown = e;
          }
          void pool.end();
          const what = `new FairPool(pool, ${str(o)})`;
          if (problems.length === 0) {
            expect(thrown, what).toBeUndefined();
            return;
          }
          expect(thrown, what).toBeInstanceOf(TypeError);
          for (const p of problems) expect((thrown as Error).message, what).toContain(p);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("acquire, withConnection and withWorkspace: Err exactly for a bad id or timeout, typed otherwise; release twice is harmless; every slot comes back", async () => {
    const pool = refusing();
    const fair = new FairPool(pool, { size: 2, maxPerWorkspace: 1, acquireTimeoutMs: 1_000 });
    const acquireOptions = fc.oneof(
      fc.constant(undefined),
      fc.record({ timeoutMs: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.constantFrom(undefined, 0, -1, NaN, Infinity, 2 ** 31, 2 ** 53, 1.5, "100"), hostileNoProxy) }, { requiredKeys: [] }),
      fc.constantFrom(null, 5, "x"),
    );
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(W, W2), idLike), acquireOptions, fc.constantFrom("acquire", "withConnection", "withWorkspace"), async (id, o, call) => {
          const r = o as { timeoutMs?: unknown } | undefined;
          const badOptions = o !== undefined && (typeof o !== "object" || o === null || (r!.timeoutMs !== undefined && !positiveInt(r!.timeoutMs, TIMER_MAX)));
          const bad = !isValidId(id) || (call === "acquire" && badOptions);
          let called = false;
          const fn = async () => {
            called = true;
            return ok(1);
          };
          const what = `FairPool.${call}(${str(id)}${call === "acquire" ? `, ${str(o)}` : ""})`;
          const result: Result<unknown, unknown> = await noThrow(what, () =>
            call === "acquire" ? fair.acquire(id as string, o as never) : call === "withConnection" ? fair.withConnection(id as string, fn) : fair.withWorkspace(id as string, fn),
          );
          // Nothing listens: a good request reaches connect and fails there, typed.
          if (bad) expectTypedErr(result, what, ["InvalidWorkspaceId", "InvalidInput"]);
          else expectTypedErr(result, what, ["StoreUnavailable", "PoolTimeout"]);
          if (result.isOk() && call === "acquire") {
            // Never reached while nothing listens; a misused connection must still give its slot back once.
            const connection = result.value as { release(destroy?: boolean): void };
            connection.release();
            connection.release(true);
          }
          expect(called, what).toBe(false);
          const m = fair.metrics();
          expect(m.free, `${what}: every slot came back`).toBe(2);
          for (const [w, s] of m.workspaces) expect([s.active, s.waiting], `${what}: workspace ${w}`).toEqual([0, 0]);
        }),
        { numRuns: 60 },
      );
    } finally {
      fair.close();
      await pool.end();
    }
  }, 30_000);
});

// ---------------------------------------------------------------- regressions

describe("regressions (counterexamples found by the properties)", () => {
  it("a prefix of 62+ bytes keeps one distinct policy per command (Postgres' 63-byte truncation made them one name: only DELETE survived)", async () => {
    await db.exec("create table long_prefix (workspace_id uuid)");
    try {
      await db.exec(policyMigrationSql([{ name: "long_prefix" }], { prefix: "p".repeat(62) }));
      const cmds = (await db.query<{ cmd: string }>("select cmd from pg_policies where tablename = 'long_prefix' order by 1")).rows.map((r) => r.cmd);
      expect(cmds).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    } finally {
      await db.exec("drop table long_prefix");
    }
    expect(new Set(workspacePolicies("c", { prefix: "👩".repeat(20), parentRead: true }).map((p) => pgName(p.name))).size).toBe(5);
  });

  it("withWorkspace: null options or readWorkspaceIds, and a db that is null or a number, are typed Errs (they threw)", async () => {
    const fn = async () => ok(1);
    expectTypedErr(await withWorkspace(db, W, fn, null as never), "options null", ["InvalidInput"]);
    expectTypedErr(await withWorkspace(db, W, fn, { readWorkspaceIds: null as never }), "readWorkspaceIds null", ["InvalidInput"]);
    expectTypedErr(await withWorkspace(db, W, fn, { readWorkspaceIds: "" as never }), "readWorkspaceIds ''", ["InvalidInput"]);
    expectTypedErr(await withWorkspaceDrizzle(drizzle(db), W, fn, null as never), "drizzle options null", ["InvalidInput"]);
    for (const source of [null, undefined, 0, "postgres://x"]) {
      expectTypedErr(await withWorkspace(source as never, W, fn), `db ${str(source)}`, ["InvalidInput"]);
      expectTypedErr(await checkTenancy(source as never), `checkTenancy ${str(source)}`, ["InvalidInput"]);
      expectTypedErr(await assertAppRole(source as never), `assertAppRole ${str(source)}`, ["InvalidInput"]);
    }
  });

  it("checkTenancy and assertAppRole: options of a bad shape are InvalidInput (a string column was Ok, null options threw)", async () => {
    expectTypedErr(await checkTenancy(db, { column: 5 as never }), "column 5", ["InvalidInput"]);
    expectTypedErr(await checkTenancy(db, { globalTables: null as never }), "globalTables null", ["InvalidInput"]);
    expectTypedErr(await checkTenancy(db, null as never), "options null", ["InvalidInput"]);
    expectTypedErr(await assertAppRole(db, null as never), "options null", ["InvalidInput"]);
    expectTypedErr(await assertAppRole(db, { allowOwner: [] as never }), "allowOwner []", ["InvalidInput"]);
  });

  it("FairPool: size is required, a timeout must fit a timer, acquire's options are checked (null threw; 2^31 timed out at once)", async () => {
    const pool = refusing();
    try {
      expect(() => new FairPool(pool, {} as never)).toThrow(/size is required/);
      expect(() => new FairPool(pool, null as never)).toThrow(/FairPool: options/);
      expect(() => new FairPool(pool, { size: 1, acquireTimeoutMs: 2 ** 31 })).toThrow(/acquireTimeoutMs/);
      const fair = new FairPool(pool, { size: 1 });
      expectTypedErr(await fair.acquire(W, null as never), "acquire options null", ["InvalidInput"]);
      for (const timeoutMs of [NaN, -1, 0, 2 ** 31, 1.5]) expectTypedErr(await fair.acquire(W, { timeoutMs }), `timeoutMs ${timeoutMs}`, ["InvalidInput"]);
      expect(fair.metrics().free).toBe(1);
      fair.close();
    } finally {
      await pool.end();
    }
  });
});
