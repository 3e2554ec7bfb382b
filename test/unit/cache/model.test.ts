import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TenantCache, type WorkspaceCache } from "../../../src/cache/index.js";
import { deferred, wsId } from "./helpers.js";

/**
 * Model-based test: long random sequences of operations over many workspaces,
 * checked after every step against a reference Map<workspace, Map<key, value>>.
 * Values name their workspace and key, so a cross-workspace read is caught
 * even when the key strings collide by design (keys that embed other
 * workspace ids or separators).
 */
const WORKSPACES = Array.from({ length: 24 }, (_, i) => wsId(i + 1));
const KEYS = [
  ...Array.from({ length: 20 }, (_, i) => `k${i}`),
  "",
  ":",
  `${WORKSPACES[1]}:k1`,
  `${WORKSPACES[0]}:k1`,
  "k1:",
  ":k1",
  "tk:{x}:cache:k1",
  "\u0000k1",
];
const RUNS = 20;
const OPS_PER_RUN = 50_000;

type Op = readonly [kind: number, ws: number, key: number];
const opArb = fc.tuple(fc.nat(99), fc.nat(WORKSPACES.length - 1), fc.nat(KEYS.length - 1));
const sequence = fc.array(opArb, { minLength: OPS_PER_RUN, maxLength: OPS_PER_RUN });

interface Pending {
  readonly ws: number;
  readonly key: string;
  readonly value: string;
  fenced: boolean;
  readonly resolve: (value: string) => void;
  readonly result: Promise<unknown>;
}

describe("model-based: TenantCache vs a reference map", () => {
  let executed = 0;

  it("exact mode (no eviction): every read equals the model, loads are single-flight and fenced", async () => {
    await fc.assert(
      fc.asyncProperty(sequence, async (ops) => {
        const cache = new TenantCache<string>({ maxBytes: 1e12 });
        const handles = WORKSPACES.map((id) => cache.workspace(id)._unsafeUnwrap());
        const model = WORKSPACES.map(() => new Map<string, string>());
        const flights = new Map<string, Pending>();
        const fenced: Pending[] = [];
        let version = 0;
        for (const [kind, w, k] of ops as readonly Op[]) {
          executed++;
          const key = KEYS[k] ?? "";
          const h = handles[w] as WorkspaceCache<string>;
          const m = model[w] as Map<string, string>;
          const fence = (all: boolean) => {
            for (const [id, p] of flights) {
              if (p.ws === w && (all || p.key === key)) {
                p.fenced = true;
                flights.delete(id);
                fenced.push(p);
              }
            }
          };
          if (kind < 40) {
            const got = (w % 2 === 0 ? h.get(key) : cache.get({ workspaceId: WORKSPACES[w] ?? "", key }))._unsafeUnwrap();
            if (got !== m.get(key)) throw new Error(`read ${w}/${JSON.stringify(key)}: got ${got}, model ${m.get(key)}`);
          } else if (kind < 70) {
            const value = `${w}|${key}|${version++}`;
            h.set(key, value)._unsafeUnwrap();
            m.set(key, value);
            fence(false);
          } else if (kind < 82) {
            const had = h.delete(key)._unsafeUnwrap();
            if (had !== m.has(key)) throw new Error(`delete ${w}/${key}: had ${had}, model ${m.has(key)}`);
            m.delete(key);
            fence(false);
          } else if (kind < 84) {
            h.clear();
            m.clear();
            fence(true);
          } else if (kind < 94) {
            // Start a load (or join the key's flight, or hit).
            const id = `${w}/${key}`;
            const value = `${w}|${key}|load${version++}`;
            const d = deferred<string>();
            let called = false;
            const result = h.getOrLoad(key, () => ((called = true), d.promise));
            const existing = flights.get(id);
            const expectCall = !m.has(key) && existing === undefined;
            if (called !== expectCall) throw new Error(`loader called=${called}, expected ${expectCall} for ${id}`);
            if (called) flights.set(id, { ws: w, key, value, fenced: false, resolve: d.resolve, result });
          } else {
            // Fenced loads finish now: they must not write (the reads that follow check it).
            for (const p of fenced.splice(0)) {
              p.resolve(p.value);
              await p.result;
            }
            // Finish the oldest pending load of this workspace, if any.
            for (const [id, p] of flights) {
              if (p.ws !== w) continue;
              flights.delete(id);
              p.resolve(p.value);
              await p.result;
              if (!p.fenced) (model[p.ws] as Map<string, string>).set(p.key, p.value);
              break;
            }
          }
        }
        // Loads fenced earlier may still be unresolved: resolving them must not write.
        for (const p of flights.values()) {
          p.resolve(p.value);
          await p.result;
          (model[p.ws] as Map<string, string>).set(p.key, p.value);
        }
        for (let w = 0; w < WORKSPACES.length; w++) {
          for (const key of KEYS) {
            if (handles[w]?.get(key)._unsafeUnwrap() !== model[w]?.get(key)) throw new Error(`final state differs at ${w}/${key}`);
          }
        }
      }),
      { numRuns: RUNS / 2, endOnFailure: true, seed: Date.now() % 2 ** 31 },
    );
  });

  it("budget mode (heavy eviction): a read returns the model's value or nothing; bytes stay within budget", async () => {
    await fc.assert(
      fc.asyncProperty(sequence, async (ops) => {
        const cache = new TenantCache<string>({ maxBytes: 4_000, floorBytes: 300, sizeOf: (v) => v.length * 2 });
        const handles = WORKSPACES.map((id) => cache.workspace(id)._unsafeUnwrap());
        const model = WORKSPACES.map(() => new Map<string, string>());
        let version = 0;
        for (const [kind, w, k] of ops as readonly Op[]) {
          executed++;
          const key = KEYS[k] ?? "";
          const h = handles[w] as WorkspaceCache<string>;
          const m = model[w] as Map<string, string>;
          if (kind < 45) {
            const got = h.get(key)._unsafeUnwrap();
            if (got !== undefined && got !== m.get(key)) throw new Error(`read ${w}/${key}: got ${got}, model ${m.get(key)}`);
          } else if (kind < 85) {
            const value = `${w}|${key}|${version++}`;
            h.set(key, value)._unsafeUnwrap();
            m.set(key, value);
          } else if (kind < 97) {
            h.delete(key);
            m.delete(key);
          } else {
            h.clear();
            m.clear();
          }
          if (cache.core.budget.total > 4_000) throw new Error(`over budget: ${cache.core.budget.total}`);
        }
        const stats = cache.stats();
        const sum = stats.workspaces.reduce((s, w) => s + w.bytes, 0);
        if (sum !== stats.bytes) throw new Error(`byte accounting drifted: ${sum} vs ${stats.bytes}`);
      }),
      { numRuns: RUNS / 2, endOnFailure: true, seed: (Date.now() + 1) % 2 ** 31 },
    );
  });

  it("ran at least 1,000,000 operations in total", () => {
    expect(executed).toBeGreaterThanOrEqual(1_000_000);
  });
});
