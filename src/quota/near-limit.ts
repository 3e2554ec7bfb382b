import type { NearLimitEvent } from "./guard-types.js";
import type { PreparedRequest } from "./request.js";
import type { Decision } from "./types.js";

/**
 * Calls `hook` for every limit an allowed decision took across the near-limit
 * threshold (`ratio` of its max): on the crossing only, not on every call above it.
 */
export function fireNearLimit(d: Decision, costs: PreparedRequest["costs"], ratio: number, hook: (event: NearLimitEvent) => void): void {
  for (const s of d.limits) {
    // Units used at which the hook fires (epsilon: 0.8 * 10 must be 8, not 8.000000000000002).
    const threshold = Math.ceil(s.max * ratio - 1e-9);
    const cost = costs.find((c) => c.limit === s.limit)?.cost ?? 1;
    const used = s.max - s.remaining;
    // Fire on crossing only: at or past the threshold now, below it before this call.
    if (used >= threshold && used - cost < threshold) {
      hook({ workspaceId: s.workspaceId, limit: s.limit, scope: s.scope, max: s.max, remaining: s.remaining });
    }
  }
}
