import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The benchmark harness: ours and a named peer measured side by side in one
 * run, alternating rounds (so drift and noise hit both), medians reported, and
 * `ratio` oriented so that higher is better. Absolute numbers on shared
 * machines are noise; the ratio from one run is the figure that counts.
 */
export interface BenchResult {
  readonly id: string;
  readonly ours: number;
  readonly peer: string;
  readonly peerValue: number;
  readonly unit: string;
  readonly ratio: number;
  readonly goal: number;
  readonly note?: string;
}

/** One measurement: returns a value in `unit` (ops/s, µs, bytes…). */
export type Measure = () => Promise<number> | number;

export interface Comparison {
  readonly id: string;
  readonly unit: string;
  /** True for throughput-like units; false for latency, bytes, … (ratio = peer ÷ ours then). */
  readonly higherIsBetter: boolean;
  readonly goal: number;
  readonly ours: Measure;
  readonly peer: { readonly name: string; readonly measure: Measure };
  /** Alternating rounds per side. @default 7 (3 with --quick) */
  readonly rounds?: number;
  readonly note?: string;
}

export class BenchContext {
  readonly module: string;
  readonly quick: boolean;
  readonly results: BenchResult[] = [];

  constructor(module: string, quick: boolean) {
    this.module = module;
    this.quick = quick;
  }

  /** Scales a workload size down for --quick runs. */
  size(full: number, quick: number): number {
    return this.quick ? quick : full;
  }

  async compare(spec: Comparison): Promise<BenchResult> {
    const rounds = spec.rounds ?? (this.quick ? 3 : 7);
    const ours: number[] = [];
    const peer: number[] = [];
    // Warm both paths before measuring (JIT, connection pools, caches).
    await spec.ours();
    await spec.peer.measure();
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first so neither always runs on a warmer or cooler machine.
      if (round % 2 === 0) {
        ours.push(await spec.ours());
        peer.push(await spec.peer.measure());
      } else {
        peer.push(await spec.peer.measure());
        ours.push(await spec.ours());
      }
    }
    if (process.env.TK_BENCH_VERBOSE === "1") console.error(`${spec.id} rounds: ours ${ours.map(round3).join(" ")} | peer ${peer.map(round3).join(" ")}`);
    const oursMedian = median(ours);
    const peerMedian = median(peer);
    const ratio = spec.higherIsBetter ? oursMedian / peerMedian : peerMedian / oursMedian;
    return this.record({
      id: spec.id,
      ours: round3(oursMedian),
      peer: spec.peer.name,
      peerValue: round3(peerMedian),
      unit: spec.unit,
      ratio: round3(ratio),
      goal: spec.goal,
      ...(spec.note === undefined ? {} : { note: spec.note }),
    });
  }

  /** Records a result measured some other way (e.g. a ratio of two quantities). */
  record(result: BenchResult): BenchResult {
    this.results.push(result);
    const verdict = result.ratio >= result.goal ? "meets" : "MISSES";
    console.log(
      `${result.id.padEnd(28)} ours ${fmt(result.ours)} ${result.unit} | ${result.peer} ${fmt(result.peerValue)} ${result.unit} | ratio ${result.ratio.toFixed(3)} (goal ${result.goal}, ${verdict})`,
    );
    return result;
  }

  write(directory: string): string {
    mkdirSync(directory, { recursive: true });
    const file = join(directory, `${this.module}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ module: this.module, quick: this.quick, node: process.version, results: this.results }, null, 2)}\n`,
    );
    return file;
  }
}

/** Runs `op` `iterations` times (awaiting when it returns a promise) and returns ops per second. */
export async function opsPerSecond(iterations: number, op: (i: number) => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const r = op(i);
    if (r instanceof Promise) await r;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return iterations / seconds;
}

/** Like `opsPerSecond` for a synchronous operation: no await in the loop at all. */
export function opsPerSecondSync(iterations: number, op: (i: number) => unknown): number {
  let sink: unknown;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink = op(i);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  blackhole(sink);
  return iterations / seconds;
}

/** Runs `total` async operations with `inFlight` outstanding at a time; returns ops per second. */
export async function opsPerSecondConcurrent(
  total: number,
  inFlight: number,
  op: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) await op(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return total / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Latency samples in microseconds of `samples` sequential calls. */
export async function latenciesMicros(samples: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = process.hrtime.bigint();
    await op(i);
    out.push(Number(process.hrtime.bigint() - start) / 1e3);
  }
  return out;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

let sinkHolder: unknown;
/** Keeps a value alive so the JIT cannot drop the work that produced it. */
export function blackhole(value: unknown): void {
  sinkHolder = value;
}
export function lastBlackholed(): unknown {
  return sinkHolder;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function fmt(n: number): string {
  return n >= 1000 ? Math.round(n).toLocaleString("en-US") : n.toFixed(3);
}
