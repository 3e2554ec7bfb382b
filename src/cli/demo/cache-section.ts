import { LRUCache } from "lru-cache";
import { TenantCache } from "../../cache/index.js";
import type { WorkspaceId } from "../../core/workspace-id.js";
import type { DemoContext } from "./context.js";

/** A deterministic pseudo-random sequence, so the demo prints the same numbers every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Skewed (Zipf-like) key popularity over `size` keys, as journeys and segments are looked up. */
function skewed(random: () => number, size: number): number {
  return Math.floor(size * random() ** 3);
}

/**
 * TenantCache: a noisy neighbour shown with numbers (per-workspace budgets vs
 * one shared LRU), an O(1) workspace clear, and a fenced fill.
 */
export async function cacheSection({ report, workspaces, names }: DemoContext): Promise<void> {
  report.section("cache: TenantCache (per-workspace budgets, O(1) clear, fenced fills)");
  const quiet: WorkspaceId[] = [workspaces.child, workspaces.other];
  const noisy = workspaces.parent;
  const slots = 2_000;
  const run = (kind: "tenant" | "shared", noise: boolean) => {
    const random = seeded(7);
    const tenant = new TenantCache<number>({ maxBytes: slots, floorBytes: slots / 20, sizeOf: () => 1 });
    const shared = new LRUCache<string, number>({ max: slots });
    const hits = new Map<WorkspaceId, number>();
    const reads = new Map<WorkspaceId, number>();
    let scan = 0;
    for (let i = 0; i < 200_000; i++) {
      const isNoisy = noise && random() < 0.8;
      const ws = isNoisy ? noisy : (quiet[i % 2] as WorkspaceId);
      const key = isNoisy ? `export-row-${scan++}` : `journey-${skewed(random, 1_500)}`;
      const found = kind === "tenant" ? tenant.get({ workspaceId: ws, key }).unwrapOr(undefined) !== undefined : shared.has(`${ws}:${key}`);
      if (kind === "shared" && found) shared.get(`${ws}:${key}`);
      if (!isNoisy && i > 40_000) {
        reads.set(ws, (reads.get(ws) ?? 0) + 1);
        if (found) hits.set(ws, (hits.get(ws) ?? 0) + 1);
      }
      if (!found) {
        if (kind === "tenant") tenant.set({ workspaceId: ws, key, value: i });
        else shared.set(`${ws}:${key}`, i);
      }
    }
    return quiet.map((ws) => (100 * (hits.get(ws) ?? 0)) / (reads.get(ws) ?? 1));
  };
  report.line(`${names[noisy] ?? "parent"} runs a bulk export (unique keys, 80% of all cache traffic); ${slots} slots in total.`);
  report.line("Hit ratio of the two quiet workspaces' journey lookups:");
  const pct = (x: number | undefined) => `${(x ?? 0).toFixed(1)}%`;
  const calm = run("tenant", false);
  const tenantNoise = run("tenant", true);
  const sharedCalm = run("shared", false);
  const sharedNoise = run("shared", true);
  report.table([
    ["workspace", "no noise", "shared LRU + noise", "TenantCache + noise"],
    ...quiet.map((ws, i) => [names[ws] ?? ws, pct(sharedCalm[i]), pct(sharedNoise[i]), pct(tenantNoise[i])]),
  ]);
  report.line(`(TenantCache without noise: ${pct(calm[0])} / ${pct(calm[1])}; the exporter keeps its 5% floor and evicts its own entries first.)`);

  const big = new TenantCache<string>({ maxBytes: 64 * 1024 * 1024 });
  const handle = big.workspace(workspaces.other)._unsafeUnwrap();
  for (let i = 0; i < 50_000; i++) handle.set(`user:${i}`, "profile");
  big.workspace(workspaces.parent)._unsafeUnwrap().clear(); // absorbs the cold-cache penalty after the fill
  const start = process.hrtime.bigint();
  handle.clear();
  const micros = Number(process.hrtime.bigint() - start) / 1e3;
  report.line(`clearing ${names[workspaces.other] ?? ""}'s 50,000 entries: ${micros.toFixed(1)} µs (O(1): its partition is dropped whole)`);

  let release: (value: string) => void = () => undefined;
  const slow = new Promise<string>((resolve) => (release = resolve));
  const journeys = big.workspace(workspaces.child)._unsafeUnwrap();
  const pending = journeys.getOrLoad("event-triggered", () => slow);
  journeys.delete("event-triggered"); // upsertJourney ran while the old list was still loading
  release("old journey list");
  await pending;
  report.line(
    `a load that started before upsertJourney's invalidation finished afterwards; cached value now: ${String(journeys.get("event-triggered").unwrapOr(undefined))} (fenced: not written back)`,
  );
  const bad = journeys.set(42 as unknown as string, "x");
  report.line(`a non-string key is a typed error: ${bad.isErr() ? `${bad.error.type}: ${bad.error.message}` : "accepted?!"}`);
}
