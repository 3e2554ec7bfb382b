/**
 * How Dittofeed's backend-lib would use TenantMetrics: a lazy singleton in
 * the style of `logger()` / `getMeter()`, recording in `sendMessage`, the
 * OTel export next to `initOpenTelemetry`, a minute flush for billing, and a
 * Prometheus route. (In Dittofeed the imports are `tenancykit/metrics`.)
 */
import type { Meter } from "@opentelemetry/api";
import { err, ok, type Result } from "neverthrow";
import { loadConfig } from "../../src/core/config.js";
import type { PostgresSource } from "../../src/core/postgres/sql-client.js";
import {
  exportToOpenTelemetry,
  metricsOptionsFromConfig,
  TenantMetrics,
  UsageFlusher,
  type RecordError,
} from "../../src/metrics/index.js";

let singleton: TenantMetrics | undefined;

/** backend-lib/src/tenantMetrics.ts: declared once, on first use. */
export function tenantMetrics(): TenantMetrics {
  if (singleton) return singleton;
  const config = loadConfig(process.env);
  const metrics = new TenantMetrics(config.isOk() ? metricsOptionsFromConfig(config.value) : {});
  metrics.counter("messages_sent", { unit: "1", description: "messages sent per workspace" });
  metrics.counter("events_ingested", { unit: "1", description: "user events ingested per workspace" });
  metrics.upDownCounter("journeys_active", { description: "journeys currently running" });
  metrics.histogram("workspace_compute_latency_ms", { unit: "ms", description: "compute-properties latency" });
  singleton = metrics;
  return metrics;
}

/** Next to `initOpenTelemetry`: replaces `{ workspaceId }` / `{ workspace_id }` attributes. */
export function exportTenantMetrics(meter: Meter): void {
  exportToOpenTelemetry(tenantMetrics(), { meter, temporality: "cumulative" });
}

/** In `insertUserEvents({ workspaceId, userEvents })`, the single ingestion funnel. */
export function recordIngested({ workspaceId, count }: { workspaceId: string; count: number }): Result<void, RecordError> {
  return tenantMetrics().add({ workspaceId, metric: "events_ingested", value: count });
}

/** In a worker that sends for one workspace at a time: bind once, add per message. */
export function messageCounter(workspaceId: string): Result<{ sent(): void }, RecordError> {
  const ws = tenantMetrics().workspace(workspaceId);
  if (ws.isErr()) return err(ws.error);
  const counter = ws.value.counter("messages_sent");
  return ok({ sent: () => void counter.add(1) });
}

/** Exact usage for billing and quota dashboards, flushed every minute. */
export function startUsageFlush(db: PostgresSource): () => void {
  const flusher = new UsageFlusher(tenantMetrics(), { db });
  const timer = setInterval(() => void flusher.flush(), 60_000);
  return () => clearInterval(timer);
}

/** A Fastify route body for `/metrics`: K + 1 series per metric, whatever the number of workspaces. */
export function prometheusBody(): { contentType: string; body: string } {
  return { contentType: "text/plain; version=0.0.4", body: tenantMetrics().prometheus() };
}
