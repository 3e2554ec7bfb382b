import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createDittofeedGuard,
  insertUserEvents,
  reconcileResourceCounts,
  sendMessage,
  upsertJourney,
  upsertSegment,
  upsertUserProperty,
} from "../../../examples/dittofeed/quota.js";
import { PostgresQuotaStore } from "../../../src/quota/stores/postgres.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { createTestDatabase } from "../../support/postgres-server.js";

const database = await createTestDatabase(inject("servers").postgresUrl, "tk_quota_df");
const pool = new pg.Pool({ connectionString: database.url, max: 6 });
const store = new PostgresQuotaStore({ db: pool });

async function workspace(parentWorkspaceId?: string): Promise<string> {
  const id = randomUUID();
  await pool.query('INSERT INTO "Workspace" (id, name, type, "parentWorkspaceId") VALUES ($1, $2, $3, $4)', [
    id,
    `workspace-${id}`,
    parentWorkspaceId === undefined ? "Root" : "Child",
    parentWorkspaceId ?? null,
  ]);
  return id;
}

beforeAll(async () => {
  await applyFixtureSchema(pool);
  (await store.migrate())._unsafeUnwrap();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

describe("Dittofeed integration example (fixture schema, real Postgres)", () => {
  it("upsertSegment: 20 concurrent creations against a limit of 5 create exactly 5 rows; updates stay free", async () => {
    const guard = createDittofeedGuard({ pool, store });
    const workspaceId = await workspace();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => upsertSegment(guard, pool, { workspaceId, name: `segment-${i}`, definition: { i } })));
    const rows = await pool.query('SELECT count(*)::int AS n FROM "Segment" WHERE "workspaceId" = $1', [workspaceId]);
    expect(rows.rows[0].n).toBe(5);
    expect(results.filter((r) => r.isOk())).toHaveLength(5);
    for (const r of results.filter((x) => x.isErr())) expect(r._unsafeUnwrapErr()).toMatchObject({ type: "QuotaExceeded", limit: "segments", scope: "own" });
    const existing = (results.find((r) => r.isOk())!._unsafeUnwrap()).name;
    expect((await upsertSegment(guard, pool, { workspaceId, name: existing, definition: { updated: true } })).isOk()).toBe(true);
  });

  it("upsertJourney and upsertUserProperty: a child is held to its parent's aggregate (Workspace.parentWorkspaceId)", async () => {
    const guard = createDittofeedGuard({ pool, store });
    const parent = await workspace();
    const a = await workspace(parent);
    const b = await workspace(parent);
    expect((await upsertJourney(guard, pool, { workspaceId: a, name: "j1", definition: {} })).isOk()).toBe(true);
    expect((await upsertJourney(guard, pool, { workspaceId: a, name: "j2", definition: {} })).isOk()).toBe(true);
    expect((await upsertJourney(guard, pool, { workspaceId: b, name: "j1", definition: {} })).isOk()).toBe(true);
    const fourth = await upsertJourney(guard, pool, { workspaceId: b, name: "j2", definition: {} });
    expect(fourth._unsafeUnwrapErr()).toMatchObject({ type: "QuotaExceeded", limit: "journeys", scope: "parent" });
    expect((await upsertUserProperty(guard, pool, { workspaceId: b, name: "email", definition: {} })).isOk()).toBe(true);
  });

  it("reconcile: rows deleted outside the guard free capacity after count(*) reconciliation", async () => {
    const guard = createDittofeedGuard({ pool, store });
    const workspaceId = await workspace();
    for (let i = 0; i < 5; i++) (await upsertSegment(guard, pool, { workspaceId, name: `s${i}`, definition: {} }))._unsafeUnwrap();
    expect((await upsertSegment(guard, pool, { workspaceId, name: "s5", definition: {} })).isErr()).toBe(true);
    await pool.query('DELETE FROM "Segment" WHERE "workspaceId" = $1 AND name IN ($2, $3)', [workspaceId, "s0", "s1"]);
    expect((await reconcileResourceCounts(guard, pool, { workspaceId }))._unsafeUnwrap()).toEqual({ segments: 3, journeys: 0, userProperties: 0 });
    expect((await upsertSegment(guard, pool, { workspaceId, name: "s5", definition: {} })).isOk()).toBe(true);
  });

  it("insertUserEvents (ingestion rate) and sendMessage (messages per month) map denials to Dittofeed's style", async () => {
    const guard = createDittofeedGuard({ pool, store });
    const workspaceId = await workspace();
    expect((await insertUserEvents(guard, { workspaceId, userEvents: Array.from({ length: 200 }, () => ({})) }))._unsafeUnwrap()).toEqual({ accepted: 200 });
    expect((await insertUserEvents(guard, { workspaceId, userEvents: Array.from({ length: 50 }, () => ({})) }))._unsafeUnwrapErr()).toMatchObject({ type: "QuotaExceeded", limit: "ingestRate" });
    const sent = [];
    for (let i = 0; i < 101; i++) sent.push((await sendMessage(guard, { workspaceId, channel: "Email" }))._unsafeUnwrap().type);
    expect(sent.filter((t) => t === "MessageSent")).toHaveLength(100);
    expect(sent[100]).toBe("MessageSkipped");
    expect((await sendMessage(guard, { workspaceId: "not-a-uuid", channel: "Email" })).isErr()).toBe(true);
  });
});
