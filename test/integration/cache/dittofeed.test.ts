import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { journeysWithCache, type EventTriggeredJourney, type Queryable } from "../../../examples/dittofeed/cache-journeys.js";
import { writeKeysWithCache, type WriteKeyRecord } from "../../../examples/dittofeed/cache-write-keys.js";
import { applyFixtureSchema } from "../../fixtures/dittofeed-migration.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { eventually, freshChannel, startNode, type TestNode } from "./nodes.js";

/** Counts the queries each "API node" sends to Postgres. */
function counted(pool: pg.Pool): Queryable & { queries: number } {
  const wrapper = {
    queries: 0,
    query: async <R extends object>(text: string, params?: unknown[]) => {
      wrapper.queries++;
      return pool.query(text, params) as unknown as Promise<{ rows: R[] }>;
    },
  };
  return wrapper;
}

describe("Dittofeed integration: journeys and write keys on TenantCache (real Postgres and Redis)", () => {
  let database: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let journeyNodes: TestNode<EventTriggeredJourney[]>[];
  let keyNodes: TestNode<WriteKeyRecord>[];
  const w1 = randomUUID();
  const w2 = randomUUID();

  beforeAll(async () => {
    database = await createTestDatabase(inject("servers").postgresUrl, "tk_cache");
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    await applyFixtureSchema(pool);
    await pool.query(`insert into "Workspace" (id, name) values ($1, 'Bakery'), ($2, 'Florist')`, [w1, w2]);
    const url = inject("servers").redisUrl;
    const options = { channel: freshChannel(), heartbeatMs: 200, acknowledged: true, ttlMs: 30_000, negativeTtlMs: 5_000, timeoutMs: 1_000 };
    journeyNodes = await Promise.all([startNode<EventTriggeredJourney[]>(url, options), startNode<EventTriggeredJourney[]>(url, options)]);
    const keyOptions = { ...options, channel: freshChannel() };
    keyNodes = await Promise.all([startNode<WriteKeyRecord>(url, keyOptions), startNode<WriteKeyRecord>(url, keyOptions)]);
    await eventually(() => [...journeyNodes, ...keyNodes].every((n) => n.cache.stats().peers === 1));
  });
  afterAll(async () => {
    await Promise.all([...journeyNodes, ...keyNodes].map((n) => n.close()));
    await pool.end();
    await database.drop();
  });

  it("event-triggered journeys: cached per workspace, invalidated on every node by upsertJourney", async () => {
    const dbA = counted(pool);
    const dbB = counted(pool);
    const [nodeA, nodeB] = journeyNodes as [TestNode<EventTriggeredJourney[]>, TestNode<EventTriggeredJourney[]>];
    const apiA = journeysWithCache({ db: dbA, cache: nodeA.cache });
    const apiB = journeysWithCache({ db: dbB, cache: nodeB.cache });

    (await apiA.upsertJourney({ workspaceId: w1, name: "welcome", status: "Running", event: "signup" }))._unsafeUnwrap();
    const first = (await apiB.getEventTriggeredJourneys({ workspaceId: w1, event: "signup" }))._unsafeUnwrap();
    expect(first.map((j) => j.name)).toEqual(["welcome"]);
    expect((await apiB.getEventTriggeredJourneys({ workspaceId: w2, event: "signup" }))._unsafeUnwrap()).toEqual([]);
    const queriesAfterFill = dbB.queries;
    for (let i = 0; i < 20; i++) await apiB.getEventTriggeredJourneys({ workspaceId: w1, event: "signup" });
    expect(dbB.queries).toBe(queriesAfterFill); // served from the cache
    // Node A already has it in Redis: no Postgres query there either.
    expect((await apiA.getEventTriggeredJourneys({ workspaceId: w1, event: "signup" }))._unsafeUnwrap()).toHaveLength(1);
    expect(dbA.queries).toBe(1); // only the upsert

    // Pausing the journey on node A takes effect on node B at once (acknowledged invalidation), not 30 s later.
    (await apiA.upsertJourney({ workspaceId: w1, name: "welcome", status: "Paused", event: "signup" }))._unsafeUnwrap();
    expect((await apiB.getEventTriggeredJourneys({ workspaceId: w1, event: "signup" }))._unsafeUnwrap()).toEqual([]);
    (await apiB.upsertJourney({ workspaceId: w1, name: "onboarding", status: "Running", event: "signup" }))._unsafeUnwrap();
    expect((await apiA.getEventTriggeredJourneys({ workspaceId: w1, event: "signup" }))._unsafeUnwrap().map((j) => j.name)).toEqual([
      "onboarding",
    ]);
    // The other workspace was never affected.
    expect((await apiA.getEventTriggeredJourneys({ workspaceId: w2, event: "signup" }))._unsafeUnwrap()).toEqual([]);
  });

  it("write keys: one query per key per cluster, bogus keys cached negatively, revocation seen by every node", async () => {
    const secretId = randomUUID();
    await pool.query(`insert into "Secret" (id, "workspaceId", name, value) values ($1, $2, 'df-write-key', 's3cret')`, [secretId, w1]);
    await pool.query(`insert into "WriteKey" ("workspaceId", "secretId") values ($1, $2)`, [w1, secretId]);
    const dbA = counted(pool);
    const dbB = counted(pool);
    const [nodeA, nodeB] = keyNodes as [TestNode<WriteKeyRecord>, TestNode<WriteKeyRecord>];
    const apiA = writeKeysWithCache({ db: dbA, cache: nodeA.cache });
    const apiB = writeKeysWithCache({ db: dbB, cache: nodeB.cache });
    const writeKey = Buffer.from(`${secretId}:s3cret`).toString("base64");

    for (let i = 0; i < 10; i++) expect((await apiA.validateWriteKey({ writeKey }))._unsafeUnwrap()).toBe(w1);
    expect((await apiB.validateWriteKey({ writeKey }))._unsafeUnwrap()).toBe(w1);
    expect(dbA.queries + dbB.queries).toBe(1);

    const wrongValue = Buffer.from(`${secretId}:guess`).toString("base64");
    expect((await apiB.validateWriteKey({ writeKey: wrongValue }))._unsafeUnwrapErr().type).toBe("InvalidWriteKey");
    const bogus = Buffer.from(`${randomUUID()}:x`).toString("base64");
    for (let i = 0; i < 5; i++) expect((await apiB.validateWriteKey({ writeKey: bogus }))._unsafeUnwrapErr().type).toBe("InvalidWriteKey");
    expect(dbB.queries).toBe(1); // the bogus key was looked up once, then cached as "not found"
    expect((await apiB.validateWriteKey({ writeKey: "%%%" }))._unsafeUnwrapErr().type).toBe("InvalidWriteKey");

    await pool.query(`delete from "Secret" where id = $1`, [secretId]);
    (await apiA.revokeWriteKey({ secretId }))._unsafeUnwrap();
    expect((await apiB.validateWriteKey({ writeKey }))._unsafeUnwrapErr().type).toBe("InvalidWriteKey");
    expect((await apiA.validateWriteKey({ writeKey }))._unsafeUnwrapErr().type).toBe("InvalidWriteKey");
  });
});
