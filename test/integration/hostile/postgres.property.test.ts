import fc from "fast-check";
import { err, ok, type Result } from "neverthrow";
import { describe, expect, it } from "vitest";
import { FairPool } from "../../../src/postgres/fair-pool.js";
import { withWorkspace } from "../../../src/postgres/with-workspace.js";
import { expectTypedErr, idLike, isValidId, noThrow, str, W, W2 } from "../../unit/hostile/hostile-values.js";
import { filePostgres } from "./stores.js";

/**
 * withWorkspace and FairPool over a real pg.Pool (the node-postgres path: BEGIN
 * and set_config in one round trip, the client released by hand), with hostile
 * ids and fns that fail in every way. Nothing is written on an Err, no
 * connection goes back to the pool inside a transaction or with a workspace
 * setting, and the fair pool's counts return to zero.
 */

const pool = filePostgres("tk_hostile_pg", async (p) => {
  await p.query("create table scoped (workspace_id uuid not null, note text)");
  return ok(undefined);
});

type Outcome = "ok" | "err" | "throw" | "undefined" | "plain" | "late-throw";
const outcome = fc.constantFrom<Outcome>("ok", "err", "throw", "undefined", "plain", "late-throw");
const STOP = { type: "Stop", message: "fn said no" };
const finish = async (o: Outcome): Promise<Result<string, typeof STOP>> => {
  if (o === "ok") return ok("done");
  if (o === "err") return err(STOP);
  if (o === "throw") throw new Error("fn threw");
  if (o === "late-throw") return Promise.reject(new Error("fn rejected"));
  return (o === "undefined" ? undefined : { value: 1 }) as never;
};

/** Every idle connection of the pool: none may be inside a transaction or keep a workspace. */
async function connectionsClean(what: string): Promise<void> {
  const clients = await Promise.all(Array.from({ length: pool().totalCount }, () => pool().connect()));
  try {
    for (const c of clients) {
      const row = (await c.query<{ s: string | null; tx: string }>("select current_setting('tenancy.workspace_id', true) s, now()::text tx")).rows[0]!;
      const again = (await c.query<{ tx: string }>("select now()::text tx")).rows[0]!;
      expect(row.s ?? "", `${what}: no workspace setting on a pooled connection`).toBe("");
      // Inside a transaction now() stands still; on a clean connection each statement is its own transaction.
      expect(again.tx === row.tx && (await c.query("select 1 from pg_stat_activity where pid = pg_backend_pid() and state = 'idle in transaction'")).rows.length > 0, `${what}: not inside a transaction`).toBe(false);
    }
  } finally {
    for (const c of clients) c.release();
  }
}

describe("withWorkspace and FairPool.withWorkspace on a real pg.Pool", () => {
  it("Err exactly for a bad id; fn's Err, throw or non-Result rolls back; no row, no open transaction, no setting left; the fair pool's counts return to zero", async () => {
    const fair = new FairPool(pool(), { size: 3, maxPerWorkspace: 2, acquireTimeoutMs: 5_000 });
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(W, W2.toUpperCase()), idLike), outcome, fc.boolean(), async (id, o, viaFair) => {
          const note = `m-${Math.random().toString(36).slice(2)}`;
          let called = false;
          const what = `${viaFair ? "FairPool." : ""}withWorkspace(${str(id)}, fn → ${o})`;
          const fn = async (tx: { query: (text: string, params?: readonly unknown[]) => Promise<unknown> }) => {
            called = true;
            await tx.query("insert into scoped (workspace_id, note) values (current_setting('tenancy.workspace_id')::uuid, $1)", [note]);
            return finish(o);
          };
          const result: Result<unknown, unknown> = await noThrow(what, () => (viaFair ? fair.withWorkspace(id as string, fn) : withWorkspace(pool(), id as string, fn)));
          const bad = !isValidId(id);
          if (bad) expectTypedErr(result, what, ["InvalidWorkspaceId"]);
          else if (o === "ok") expect(result.isOk() && result.value, what).toBe("done");
          else if (o === "err") expect(result.isErr() && result.error, what).toBe(STOP);
          else expectTypedErr(result, what);
          expect(called, what).toBe(!bad);
          expect((await pool().query("select 1 from scoped where note = $1", [note])).rows.length, `${what}: committed exactly on Ok`).toBe(!bad && o === "ok" ? 1 : 0);
          const m = fair.metrics();
          expect(m.free, `${what}: every fair slot came back`).toBe(3);
          for (const [w, s] of m.workspaces) expect([s.active, s.waiting], `${what}: workspace ${w}`).toEqual([0, 0]);
          await connectionsClean(what);
        }),
        { numRuns: 40 },
      );
    } finally {
      fair.close();
    }
  }, 60_000);

  it("acquire with a timeout a timer cannot hold is an Err, never a wait that ends at once; release twice gives one slot back", async () => {
    const fair = new FairPool(pool(), { size: 1, maxPerWorkspace: 1, acquireTimeoutMs: 5_000 });
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.integer({ min: 200, max: 2 ** 31 - 1 }), fc.constantFrom(2 ** 31, 2 ** 40, 1e15)), async (timeoutMs) => {
          const held = (await fair.acquire(W))._unsafeUnwrap();
          const waiting = noThrow(`acquire(W2, ${timeoutMs})`, () => fair.acquire(W2, { timeoutMs }));
          if (timeoutMs > 2 ** 31 - 1) {
            expectTypedErr(await waiting, `timeoutMs ${timeoutMs}`, ["InvalidInput"]);
            held.release();
          } else {
            // Still waiting after 50 ms: the timer did not overflow to 1 ms.
            const early = await Promise.race([waiting, new Promise<"pending">((r) => setTimeout(() => r("pending"), 50))]);
            expect(early, `timeoutMs ${timeoutMs}: no early timeout`).toBe("pending");
            held.release();
            held.release(true);
            const second = (await waiting)._unsafeUnwrap();
            second.release();
            second.release();
          }
          expect(fair.metrics().free, "one slot, back").toBe(1);
          for (const [, s] of fair.metrics().workspaces) expect([s.active, s.waiting]).toEqual([0, 0]);
        }),
        { numRuns: 10 },
      );
    } finally {
      fair.close();
    }
  }, 30_000);
});

describe("regressions (counterexamples found by the properties)", () => {
  it("a fn that returns no Result (a forgotten return) rolls back instead of returning the connection inside its transaction", async () => {
    for (const value of [undefined, { value: 1 }]) {
      const result = await withWorkspace(pool(), W, async (tx) => {
        await tx.query("insert into scoped (workspace_id, note) values ($1, 'forgotten')", [W]);
        return value as never;
      });
      expectTypedErr(result, "non-Result fn");
      expect((await pool().query("select 1 from scoped where note = 'forgotten'")).rows).toEqual([]);
      await connectionsClean("after a non-Result fn");
    }
  });
});
