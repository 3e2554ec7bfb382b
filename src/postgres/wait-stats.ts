/** Bucket upper bounds in milliseconds for acquisition waits (last bucket is open). */
const BOUNDS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/**
 * A fixed-bucket histogram of wait times: constant memory per workspace, so
 * metrics for thousands of workspaces stay bounded. Quantiles are the upper
 * bound of the bucket that holds them (an over-estimate, never an under one).
 */
export class WaitStats {
  count = 0;
  totalMs = 0;
  maxMs = 0;
  readonly #buckets = new Array<number>(BOUNDS_MS.length + 1).fill(0);

  record(ms: number): void {
    this.count++;
    this.totalMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > (BOUNDS_MS[i] ?? Infinity)) i++;
    this.#buckets[i] = (this.#buckets[i] ?? 0) + 1;
  }

  /** The q-quantile (0..1) as a bucket upper bound; the max for the open bucket. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i] ?? 0;
      if (seen >= rank) return Math.min(BOUNDS_MS[i] ?? this.maxMs, this.maxMs);
    }
    return this.maxMs;
  }

  snapshot(): WaitSnapshot {
    return {
      count: this.count,
      meanMs: this.count === 0 ? 0 : this.totalMs / this.count,
      maxMs: this.maxMs,
      p50Ms: this.quantile(0.5),
      p99Ms: this.quantile(0.99),
    };
  }
}

export interface WaitSnapshot {
  readonly count: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}
