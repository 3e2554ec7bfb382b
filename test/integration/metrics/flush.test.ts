import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ManualClock } from "../../../src/core/clock.js";
import { parseWorkspaceId } from "../../../src/core/workspace-id.js";
import { toSqlClient, type SqlClient } from "../../../src/core/postgres/sql-client.js";
import { TenantMetrics } from "../../../src/metrics/index.js";
import { tenancyMetricUsage, UsageFlusher } from "../../../src/metrics/postgres.js";
import { createTestDatabase } from "../../support/postgres-server.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";

const servers = inject("servers");
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase(servers.postgresUrl, "tk_metrics");
  pool = new pg.Pool({ connectionString: database.url, max: 6 });
  const migrated = await new UsageFlusher(new TenantMetrics(), { db: pool }).migrate();
  expect(migrated.isOk()).toBe(true);
});
afterAll(async () => {
  await pool.end();
  await database.drop();
});

function declared(options: ConstructorParameters<typeof TenantMetrics>[0] = {}): TenantMetrics {
  const metrics = new TenantMetrics(options);
  metrics.counter("messages_sent");
  metrics.upDownCounter("active_journeys");
  metrics.gauge("queue_depth");
  metrics.histogram("send_latency_ms", { boundaries: [10, 100] });
  return metrics;
}

async function stored(ids: readonly string[], metric: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ workspace_id: string; total: number }>(
    `select workspace_id, sum(value)::float8 as total from tenancy_metric_usage where metric = $1 and workspace_id = any($2::uuid[]) group by 1`,
    [metric, ids],
  );
  return new Map(rows.map((r) => [r.workspace_id, r.total]));
}

describe("UsageFlusher on a real PostgreSQL 15", () => {
  it("flushes exact per-workspace usage; repeated flushes add only what is new", async () => {
    const metrics = declared();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    ids.forEach((id, i) => {
      metrics.add({ workspaceId: id, metric: "messages_sent", value: (i + 1) * 10 });
      metrics.observe({ workspaceId: id, metric: "send_latency_ms", value: 42 });
      metrics.set({ workspaceId: id, metric: "queue_depth", value: 3 });
    });
    const flusher = new UsageFlusher(metrics, { db: drizzle({ client: pool }) });
    const first = (await flusher.flush())._unsafeUnwrap();
    expect(first).toMatchObject({ rows: 9, applied: true });
    expect(await stored(ids, "messages_sent")).toEqual(new Map(ids.map((id, i) => [id, (i + 1) * 10])));
    expect(await stored(ids, "send_latency_ms_sum")).toEqual(new Map(ids.map((id) => [id, 42])));
    expect((await stored(ids, "queue_depth")).size).toBe(0);
    expect((await flusher.flush())._unsafeUnwrap().rows).toBe(0);
    metrics.add({ workspaceId: ids[0] ?? "", metric: "messages_sent", value: 5 });
    expect((await flusher.flush())._unsafeUnwrap().rows).toBe(1);
    expect((await stored(ids, "messages_sent")).get(ids[0] ?? "")).toBe(15);
    // The drizzle table describes the same rows.
    const viaDrizzle = await drizzle({ client: pool })
      .select()
      .from(tenancyMetricUsage)
      .where(sql`${tenancyMetricUsage.workspaceId} = ${ids[2]} and ${tenancyMetricUsage.metric} = 'messages_sent'`);
    expect(viaDrizzle).toHaveLength(1);
    expect(viaDrizzle[0]?.value).toBe(30);
  });

  it("a commit whose acknowledgement is lost is not applied twice when the flush is retried", async () => {
    const metrics = declared();
    const id = randomUUID();
    metrics.add({ workspaceId: id, metric: "messages_sent", value: 7 });
    const real = toSqlClient(pool) as SqlClient;
    let loseAck = true;
    const lossy: SqlClient = {
      ...real,
      transaction: async (fn) => {
        const result = await real.transaction(fn); // really commits on the real server
        if (loseAck) throw Object.assign(new Error("Connection terminated unexpectedly"), { code: "ECONNRESET" });
        return result;
      },
    };
    const flusher = new UsageFlusher(metrics, { db: lossy });
    const failed = await flusher.flush();
    expect(failed._unsafeUnwrapErr()).toMatchObject({ type: "StoreUnavailable", retryable: true });
    expect((await stored([id], "messages_sent")).get(id)).toBe(7); // it did commit
    metrics.add({ workspaceId: id, metric: "messages_sent", value: 1 }); // recorded meanwhile
    loseAck = false;
    const retried = (await flusher.flush())._unsafeUnwrap();
    expect(retried.applied).toBe(false); // the ledger knew this batch
    expect((await stored([id], "messages_sent")).get(id)).toBe(7);
    expect((await flusher.flush())._unsafeUnwrap()).toMatchObject({ rows: 1, applied: true });
    expect((await stored([id], "messages_sent")).get(id)).toBe(8);
  });

  it("a dead network path fails the flush with a retryable error and loses nothing", async () => {
    const proxy = await startTcpProxy(Number(new URL(database.url).port));
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const viaProxy = new pg.Pool({ connectionString: url.toString(), max: 2, query_timeout: 1_000, connectionTimeoutMillis: 1_000 });
    try {
      const metrics = declared();
      const id = randomUUID();
      const flusher = new UsageFlusher(metrics, { db: viaProxy });
      metrics.add({ workspaceId: id, metric: "messages_sent", value: 3 });
      expect((await flusher.flush())._unsafeUnwrap().applied).toBe(true);
      metrics.add({ workspaceId: id, metric: "messages_sent", value: 4 });
      proxy.blackhole(true);
      const failed = await flusher.flush();
      expect(failed.isErr()).toBe(true);
      expect(failed._unsafeUnwrapErr().retryable).toBe(true);
      metrics.add({ workspaceId: id, metric: "messages_sent", value: 5 });
      proxy.blackhole(false);
      let report = await flusher.flush();
      for (let attempt = 0; report.isErr() && attempt < 5; attempt++) report = await flusher.flush();
      expect(report.isOk()).toBe(true);
      await flusher.flush();
      expect((await stored([id], "messages_sent")).get(id)).toBe(12);
    } finally {
      await viaProxy.end().catch(() => undefined);
      await proxy.close();
    }
  });

  it("usage of workspaces retired as idle or replaced by Space-Saving is carried into the next flush", async () => {
    const clock = new ManualClock();
    const metrics = declared({ maxWorkspaces: 20, idleTtlMs: 60_000, clock });
    const flusher = new UsageFlusher(metrics, { db: pool });
    const ids = Array.from({ length: 200 }, () => randomUUID());
    const truth = new Map<string, number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < ids.length; i++) {
        const id = ids[(i * 7 + round * 13) % ids.length] ?? "";
        metrics.add({ workspaceId: id, metric: "messages_sent", value: i % 5 });
        truth.set(id, (truth.get(id) ?? 0) + (i % 5));
        if (i % 50 === 0) clock.advance(30_000);
      }
      expect((await flusher.flush()).isOk()).toBe(true);
    }
    expect(metrics.stats().retired + metrics.stats().replaced).toBeGreaterThan(0);
    const rows = await stored(ids, "messages_sent");
    for (const [id, value] of truth) expect(rows.get(id) ?? 0).toBe(value);
  });

  it("concurrent flushers (two processes' worth) add up exactly", async () => {
    const ids = Array.from({ length: 50 }, () => randomUUID());
    const instances = [declared(), declared()].map((metrics) => ({ metrics, flusher: new UsageFlusher(metrics, { db: pool }) }));
    let expected = 0;
    for (let round = 0; round < 20; round++) {
      for (const { metrics } of instances) {
        for (const id of ids) metrics.add({ workspaceId: id, metric: "messages_sent", value: round + 1 });
      }
      expected += 2 * (round + 1);
      const results = await Promise.all(instances.map(({ flusher }) => flusher.flush()));
      for (const r of results) expect(r.isOk()).toBe(true);
    }
    const rows = await stored(ids, "messages_sent");
    for (const id of ids) expect(rows.get(id)).toBe(expected);
  });

  it("recordings made while flushes are in flight, and overlapping flush() calls, are counted exactly once", async () => {
    const metrics = declared();
    const flusher = new UsageFlusher(metrics, { db: pool });
    const ids = Array.from({ length: 100 }, () => randomUUID());
    const truth = new Map<string, number>();
    let recording = true;
    // A recorder that keeps adding between the flushes' I/O waits.
    const recorder = (async () => {
      let i = 0;
      while (recording) {
        for (let j = 0; j < 50; j++, i++) {
          const id = ids[i % ids.length] ?? "";
          metrics.add({ workspaceId: id, metric: "messages_sent", value: 1 + (i % 3) });
          truth.set(id, (truth.get(id) ?? 0) + 1 + (i % 3));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 15; round++) {
      // Two overlapping calls: the second may carry the same batch; the ledger applies it once.
      const results = await Promise.all([flusher.flush(), flusher.flush()]);
      for (const r of results) expect(r.isOk()).toBe(true);
    }
    recording = false;
    await recorder;
    expect((await flusher.flush()).isOk()).toBe(true);
    const rows = await stored(ids, "messages_sent");
    for (const id of ids) expect(rows.get(id) ?? 0).toBe(truth.get(id) ?? 0);
  });

  it("a slow overlapping call finishing late does not drop the next, failed batch", async () => {
    const metrics = declared();
    const id = randomUUID();
    const real = toSqlClient(pool) as SqlClient;
    const gates: (() => void)[] = [];
    let failNext = false;
    const gated: SqlClient = {
      ...real,
      transaction: async (fn) => {
        await new Promise<void>((resolve) => gates.push(resolve));
        if (failNext) {
          failNext = false;
          throw Object.assign(new Error("connection reset"), { code: "ECONNRESET" });
        }
        return real.transaction(fn);
      },
    };
    const flusher = new UsageFlusher(metrics, { db: gated });
    const waitGates = async (n: number) => {
      while (gates.length < n) await new Promise((resolve) => setImmediate(resolve));
    };
    metrics.add({ workspaceId: id, metric: "messages_sent", value: 1 });
    const a = flusher.flush(); // batch X
    const b = flusher.flush(); // the same batch X, still in flight below
    await waitGates(2);
    gates[0]?.();
    expect((await a)._unsafeUnwrap().applied).toBe(true);
    metrics.add({ workspaceId: id, metric: "messages_sent", value: 10 });
    failNext = true;
    const c = flusher.flush(); // batch Y, fails
    await waitGates(3);
    gates[2]?.();
    expect((await c).isErr()).toBe(true);
    gates[1]?.(); // X's second call finishes late (a no-op: the ledger has X)
    expect((await b)._unsafeUnwrap().applied).toBe(false);
    const retry = flusher.flush(); // must retry Y, not forget it
    await waitGates(4);
    gates[3]?.();
    expect((await retry)._unsafeUnwrap()).toMatchObject({ applied: true, rows: 1 });
    expect((await stored([id], "messages_sent")).get(id)).toBe(11);
  });

  it("flushes metrics declared after the flusher was made, including the sink's on-the-fly quota/cache metrics", async () => {
    const clock = new ManualClock();
    const metrics = new TenantMetrics({ idleTtlMs: 1_000, clock });
    metrics.counter("messages_sent");
    const flusher = new UsageFlusher(metrics, { db: pool });
    const [a = "", b = "", c = ""] = [randomUUID(), randomUUID(), randomUUID()];
    metrics.counter("late_total"); // declared after the flusher
    metrics.histogram("late_latency_ms", { boundaries: [10] });
    metrics.add({ workspaceId: a, metric: "late_total", value: 4 });
    metrics.observe({ workspaceId: a, metric: "late_latency_ms", value: 7 });
    const sink = metrics.sink();
    const wb = parseWorkspaceId(b)._unsafeUnwrap();
    sink.add(wb, "quota_allowed_total", 3); // declared by the sink on first use
    sink.observe(wb, "cache_bytes", 100);
    expect((await flusher.flush())._unsafeUnwrap()).toMatchObject({ applied: true, rows: 6 });
    expect(await stored([a, b], "late_total")).toEqual(new Map([[a, 4]]));
    expect(await stored([a, b], "late_latency_ms_count")).toEqual(new Map([[a, 1]]));
    expect(await stored([a, b], "late_latency_ms_sum")).toEqual(new Map([[a, 7]]));
    expect(await stored([a, b], "quota_allowed_total")).toEqual(new Map([[b, 3]]));
    expect(await stored([a, b], "cache_bytes_count")).toEqual(new Map([[b, 1]]));
    expect(await stored([a, b], "cache_bytes_sum")).toEqual(new Map([[b, 100]]));
    // Declared late, recorded, then retired before any flush: carried over, not lost.
    metrics.counter("later_total");
    metrics.add({ workspaceId: c, metric: "later_total", value: 9 });
    for (let i = 0; i < 6; i++) {
      clock.advance(300);
      metrics.sweep();
    }
    expect(metrics.usage({ workspaceId: c })._unsafeUnwrap().tracked).toBe(false);
    expect((await flusher.flush()).isOk()).toBe(true);
    expect(await stored([c], "later_total")).toEqual(new Map([[c, 9]]));
    expect((await flusher.flush())._unsafeUnwrap().rows).toBe(0);
  });

  it("works on the embedded PGlite default too", async () => {
    const db = new PGlite();
    const metrics = declared();
    const id = randomUUID();
    metrics.add({ workspaceId: id, metric: "messages_sent", value: 9 });
    const flusher = new UsageFlusher(metrics, { db });
    expect((await flusher.migrate()).isOk()).toBe(true);
    expect((await flusher.flush())._unsafeUnwrap().rows).toBe(1);
    const { rows } = await db.query<{ value: number }>("select value from tenancy_metric_usage where workspace_id = $1", [id]);
    expect(rows[0]?.value).toBe(9);
    await db.close();
  });
});
