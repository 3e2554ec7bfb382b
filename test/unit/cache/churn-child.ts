/**
 * Run with --expose-gc (see churn.test.ts): creates and clears 100,000
 * workspaces, then reads and loads 100,000 more that never hold anything
 * (and are never cleared), and prints the heap around each phase as JSON.
 */
import { TenantCache } from "../../../src/cache/index.js";
import { RECLAIM_DELAY_MS } from "../../../src/cache/core.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
const settle = async () => {
  // Idle partitions are reclaimed by a timer, RECLAIM_DELAY_MS after the first became idle.
  await new Promise((r) => setTimeout(r, RECLAIM_DELAY_MS + 50));
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
};
const id = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const cache = new TenantCache<string>({ maxBytes: 64 * 1024 * 1024 });

async function churn(from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const ws = cache.workspace(id(n))._unsafeUnwrap();
    ws.set("journeys", "x".repeat(64));
    ws.set("write-key", "y");
    await ws.getOrLoad("missing", () => "loaded");
    ws.get("journeys");
    ws.clear();
  }
}

/** Workspaces that are only read: each one's partition must be reclaimed once idle. */
async function readOnly(from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    await cache.getOrLoad({ workspaceId: id(n), key: "missing" }, () => undefined);
    const ws = cache.workspace(id(n))._unsafeUnwrap();
    ws.get("journeys");
    cache.get({ workspaceId: id(n), key: "journeys" });
  }
}

await churn(10_000_000, 5_000); // warm up: JIT, the workspace-id memo, lru-cache internals
await readOnly(20_000_000, 5_000);
await settle();
const before = process.memoryUsage().heapUsed;
await churn(0, 100_000);
await settle();
const after = process.memoryUsage().heapUsed;
const partitions = cache.core.partitions.size;
await readOnly(1_000_000, 100_000);
await settle();
const afterReads = process.memoryUsage().heapUsed;
process.stdout.write(
  JSON.stringify({
    before,
    after,
    partitions,
    bytes: cache.stats().bytes,
    afterReads,
    partitionsAfterReads: cache.core.partitions.size,
  }),
);
