import { randomUUID } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { invalidInput, storeUnavailable, type InvalidInputError } from "../core/errors.js";
import { sqlResult, sqlStateOf, type SqlError } from "../core/postgres/result.js";
import { toSqlClient, type PostgresSource, type SqlClient } from "../core/postgres/sql-client.js";
import { CLAIM_FLUSH_SQL, METRICS_MIGRATION_SQL, UPSERT_USAGE_SQL } from "./flush-sql.js";
import { grown, type SlotListener } from "./slots.js";
import { HistogramStore, type MetricStore } from "./storage.js";
import type { TenantMetrics } from "./tenant-metrics.js";
import { underMigrationLock } from "../core/postgres/migration-lock.js";

export interface UsageFlusherOptions {
  /** A `pg` Pool, a drizzle database or PGlite (the user's own client). */
  readonly db: PostgresSource;
  /** Usage is bucketed into windows of this length (by flush time). @default 3_600_000 (1 h) */
  readonly windowMs?: number;
  /** Rows per statement inside one flush transaction. @default 5_000 */
  readonly chunkRows?: number;
}

export interface FlushReport {
  readonly flushId: string;
  /** Rows (workspace × metric) in the batch. */
  readonly rows: number;
  /** False when Postgres already had this batch (a retried flush whose first attempt committed). */
  readonly applied: boolean;
  readonly windowStart: Date;
}

interface Batch {
  readonly id: string;
  readonly windowStart: number;
  readonly workspaceIds: string[];
  readonly metrics: string[];
  readonly values: number[];
}

/** A flushed series: a counter/up-down counter's values, or a histogram's count or sum. */
interface Series {
  readonly name: string;
  readonly values: () => Float64Array;
  baseline: Float64Array;
}

/**
 * Flushes exact per-workspace usage into Postgres, idempotently. Each flush
 * takes the increase since the last flush (baselines move forward at once, so
 * recordings during the flush go to the next one), names the batch with a
 * unique flush id, and commits the ledger row and the usage upserts in one
 * transaction. A flush that failed is retried as the same batch with the same
 * id, so a commit whose acknowledgement was lost is never applied twice.
 * Usage of a workspace retired or replaced between flushes is carried over.
 * Gauges are not flushed (they are levels, not usage). Metrics declared after
 * the flusher was made (including those `metrics.sink()` declares on the fly)
 * are picked up at declaration, with all their usage.
 */
export class UsageFlusher implements SlotListener {
  readonly #metrics: TenantMetrics;
  readonly #client: SqlClient | undefined;
  readonly #windowMs: number;
  readonly #chunk: number;
  readonly #instance = randomUUID();
  readonly #series: Series[] = [];
  #carry = new Map<string, number>();
  #pending: Batch | undefined;
  #sequence = 0;

  constructor(metrics: TenantMetrics, options: UsageFlusherOptions) {
    this.#metrics = metrics;
    this.#client = toSqlClient(options.db);
    this.#windowMs = options.windowMs ?? 3_600_000;
    this.#chunk = options.chunkRows ?? 5_000;
    for (const descriptor of metrics.metrics()) {
      const store = metrics.store(descriptor.name);
      if (store) this.#add(store, 0);
    }
    metrics.slots.listen(this, true);
    // A metric declared later starts from zero everywhere: its baselines are zeros, so all of it is flushed.
    metrics.onDeclare((store) => this.#add(store, metrics.slots.allocated));
  }

  #add(store: MetricStore, size: number): void {
    const name = store.descriptor.name;
    if (store instanceof HistogramStore) {
      this.#series.push({ name: `${name}_count`, values: () => store.count, baseline: new Float64Array(size) });
      this.#series.push({ name: `${name}_sum`, values: () => store.sum, baseline: new Float64Array(size) });
    } else if (store.descriptor.kind !== "gauge") {
      this.#series.push({ name, values: () => store.values, baseline: new Float64Array(size) });
    }
  }

  /** Creates the usage and ledger tables if missing (or apply METRICS_MIGRATION_SQL yourself). */
  async migrate(): Promise<Result<void, SqlError | InvalidInputError>> {
    const client = this.#client;
    if (!client) return err(invalidInput("db is not a pg Pool, drizzle database or PGlite"));
    return sqlResult("create metrics usage tables", () => client.exec(underMigrationLock(METRICS_MIGRATION_SQL)));
  }

  /** Writes usage since the last successful flush; retries a failed batch first. */
  async flush(): Promise<Result<FlushReport, SqlError | InvalidInputError>> {
    const client = this.#client;
    if (!client) return err(invalidInput("db is not a pg Pool, drizzle database or PGlite"));
    const batch = (this.#pending ??= this.#take());
    const applied = await sqlResult("flush metrics usage", () =>
      client.transaction(async (tx) => {
        const claimed = await tx.query(CLAIM_FLUSH_SQL, [batch.id, batch.values.length]);
        if (claimed.rows.length === 0) return false;
        for (let at = 0; at < batch.values.length; at += this.#chunk) {
          const end = at + this.#chunk;
          await tx.query(UPSERT_USAGE_SQL, [
            batch.workspaceIds.slice(at, end),
            batch.metrics.slice(at, end),
            batch.windowStart,
            batch.values.slice(at, end),
          ]);
        }
        return true;
      }),
    );
    if (applied.isErr()) return err(retryableWhenNoSqlState(applied.error));
    // Only this batch is done: an overlapping call may have started the next one.
    if (this.#pending === batch) this.#pending = undefined;
    return ok({ flushId: batch.id, rows: batch.values.length, applied: applied.value, windowStart: new Date(batch.windowStart) });
  }

  /** Builds the next batch and moves every baseline forward. */
  #take(): Batch {
    const slots = this.#metrics.slots;
    const rows = this.#carry;
    this.#carry = new Map();
    for (const series of this.#series) {
      const values = series.values();
      for (let slot = 0; slot < slots.highWater; slot++) {
        const id = slots.ids[slot];
        if (id === undefined) continue;
        const delta = (values[slot] ?? 0) - (series.baseline[slot] ?? 0);
        if (delta === 0) continue;
        series.baseline[slot] = values[slot] ?? 0;
        const key = `${id}\u0000${series.name}`;
        rows.set(key, (rows.get(key) ?? 0) + delta);
      }
    }
    const now = this.#metrics.options.clock.now();
    const batch: Batch = {
      id: `${this.#instance}:${++this.#sequence}`,
      windowStart: Math.floor(now / this.#windowMs) * this.#windowMs,
      workspaceIds: [],
      metrics: [],
      values: [],
    };
    for (const [key, value] of rows) {
      const [workspaceId = "", metric = ""] = key.split("\u0000");
      batch.workspaceIds.push(workspaceId);
      batch.metrics.push(metric);
      batch.values.push(value);
    }
    return batch;
  }

  /** @internal SlotListener: baselines grow with the table. */
  grow(size: number): void {
    for (const series of this.#series) series.baseline = grown(series.baseline, size);
  }

  /** @internal Runs before the stores clear the slot: keep its unflushed usage. */
  retire(slot: number): void {
    this.#carryOut(slot, true);
  }

  /** @internal The old owner's unflushed usage is its own; the newcomer starts from here. */
  replace(slot: number): void {
    this.#carryOut(slot, false);
  }

  #carryOut(slot: number, cleared: boolean): void {
    const id = this.#metrics.slots.ids[slot];
    if (id === undefined) return;
    for (const series of this.#series) {
      const value = series.values()[slot] ?? 0;
      const delta = value - (series.baseline[slot] ?? 0);
      if (delta !== 0) {
        const key = `${id}\u0000${series.name}`;
        this.#carry.set(key, (this.#carry.get(key) ?? 0) + delta);
      }
      // After retirement the store zeroes the slot; after replacement the newcomer keeps `value`.
      series.baseline[slot] = cleared ? 0 : value;
    }
  }
}

/**
 * A failure without a SQLSTATE (a client-side query timeout, a dropped
 * socket) never reached a verdict from the server: retrying is the right move,
 * and safe, because the batch keeps its flush id.
 */
function retryableWhenNoSqlState(error: SqlError): SqlError {
  if (error.retryable) return error;
  const code = sqlStateOf(error.cause);
  return typeof code === "string" ? error : storeUnavailable(error.message, { cause: error.cause });
}
