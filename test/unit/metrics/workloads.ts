/**
 * Deterministic workloads for the property tests: workspace ids and a stream
 * of (workspace index, increment) pairs, Zipf-skewed or uniform.
 */
export function workspaceIds(n: number, seed: number): string[] {
  const next = rng(seed);
  const hex = (len: number) => Array.from({ length: len }, () => Math.floor(next() * 16).toString(16)).join("");
  return Array.from({ length: n }, () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`);
}

/** A small xorshift generator: same seed, same stream. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/** Draws indexes 0..n-1 with P(i) ∝ 1/(i+1)^s via the inverse CDF. */
export function zipfSampler(n: number, s: number, seed: number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / (i + 1) ** s;
    cdf[i] = total;
  }
  const next = rng(seed);
  return () => {
    const target = next() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] ?? 0) < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function uniformSampler(n: number, seed: number): () => number {
  const next = rng(seed);
  return () => Math.floor(next() * n);
}

/** The exact top-k indexes of `counts` (ties by lower index). */
export function exactTopK(counts: Map<string, number>, k: number): string[] {
  return [...counts.entries()]
    .filter(([, v]) => v !== 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([id]) => id);
}
