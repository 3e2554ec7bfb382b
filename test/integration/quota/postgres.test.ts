import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { WorkspaceId } from "../../../src/core/workspace-id.js";
import { QuotaGuard } from "../../../src/quota/guard.js";
import { PostgresPolicySource } from "../../../src/quota/stores/postgres-policy.js";
import { PostgresQuotaStore } from "../../../src/quota/stores/postgres.js";
import { runQuotaStoreContract } from "../../../src/testing/quota-contract.js";
import { setTimeout as sleep } from "node:timers/promises";
import { createTestDatabase } from "../../support/postgres-server.js";

const database = await createTestDatabase(inject("servers").postgresUrl, "tk_quota");
const pool = new pg.Pool({ connectionString: database.url, max: 8 });
const store = new PostgresQuotaStore({ db: pool });
beforeAll(async () => {
  (await store.migrate())._unsafeUnwrap();
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

runQuotaStoreContract({ describe, it, expect } as never, "postgres", () => ({ store, advance: (ms) => sleep(ms) }));

describe("postgres store", () => {
  it("concurrent decisions from many connections never over-admit", async () => {
    const workspaceId = randomUUID();
    const guard = new QuotaGuard({ store, policies: { plans: { p: { seats: { kind: "count", limit: 50 } } }, defaultPlan: "p" } });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => guard.consume({ workspaceId, limit: "seats", cost: 1 + (i % 3) })));
    let admitted = 0;
    let smallestDenied = Number.POSITIVE_INFINITY;
    results.forEach((r, i) => {
      const d = r._unsafeUnwrap();
      if (d.allowed) admitted += 1 + (i % 3);
      else smallestDenied = Math.min(smallestDenied, 1 + (i % 3));
    });
    expect(admitted).toBeLessThanOrEqual(50);
    expect(50 - admitted).toBeLessThan(smallestDenied);
  });

  it("a refund or check of another kind (a guard still on the old policy) leaves the new kind's row as it is", async () => {
    const workspaceId = randomUUID();
    const guard = new QuotaGuard({ store, policies: { plans: { p: { x: { kind: "count", limit: 3 } } }, defaultPlan: "p" } });
    for (let i = 0; i < 3; i++) expect((await guard.consume({ workspaceId, limit: "x" }))._unsafeUnwrap().allowed).toBe(true);
    const key = store.key(workspaceId, workspaceId, "x");
    const period = { key, kind: 2, limit: 3, cost: 1, a: 1, b: 0 };
    expect((await store.apply({ mode: "refund", items: [period], since: Date.now() })).isOk()).toBe(true);
    expect((await store.apply({ mode: "check", items: [period] })).isOk()).toBe(true);
    expect((await guard.consume({ workspaceId, limit: "x" }))._unsafeUnwrap().allowed).toBe(false);
  });

  it("corrupt stored state is a typed error and nothing is written", async () => {
    const workspaceId = randomUUID();
    const guard = new QuotaGuard({ store, policies: { plans: { p: { seats: { kind: "count", limit: 5 } } }, defaultPlan: "p" } });
    (await guard.consume({ workspaceId, limit: "seats" }))._unsafeUnwrap();
    await pool.query(`UPDATE tenancy_quota_state SET state = '{"used":"lots"}' WHERE workspace_id = $1`, [workspaceId]);
    const r = await guard.consume({ workspaceId, limit: "seats" });
    expect(r.isErr() && r.error.type).toBe("StoreFailed");
    const row = await pool.query(`SELECT state FROM tenancy_quota_state WHERE workspace_id = $1`, [workspaceId]);
    expect(row.rows[0].state).toEqual({ used: "lots" });
  });

  it("policies from the tenancy_quota_policy table apply without a restart", async () => {
    const workspaceId = randomUUID() as WorkspaceId;
    const policies = new PostgresPolicySource({ db: pool, plans: { free: { seats: { kind: "count", limit: 1 } }, pro: { seats: { kind: "count", limit: 3 } } }, defaultPlan: "free" });
    const guard = new QuotaGuard({ store, policies, policyCacheMs: 0 });
    expect((await guard.consume({ workspaceId, limit: "seats" }))._unsafeUnwrap().allowed).toBe(true);
    expect((await guard.consume({ workspaceId, limit: "seats" }))._unsafeUnwrap().allowed).toBe(false);
    (await policies.assign(workspaceId, { plan: "pro" }))._unsafeUnwrap();
    expect((await guard.consume({ workspaceId, limit: "seats", cost: 2 }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 0 });
    (await policies.assign(workspaceId, { plan: "pro", overrides: { seats: { kind: "count", limit: 10 } } }))._unsafeUnwrap();
    expect((await guard.consume({ workspaceId, limit: "seats", cost: 7 }))._unsafeUnwrap()).toMatchObject({ allowed: true, remaining: 0 });
    await pool.query(`UPDATE tenancy_quota_policy SET overrides = '{"seats":{"kind":"count","limit":-1}}' WHERE workspace_id = $1`, [workspaceId]);
    const bad = await guard.consume({ workspaceId, limit: "seats" });
    expect(bad.isErr() && bad.error.type).toBe("PolicyUnavailable");
  });
});
