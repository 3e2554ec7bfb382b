import type { ItemMeta } from "./request.js";
import type { StoreOutcome } from "./store.js";
import type { Decision, LimitState, Reservation } from "./types.js";

/** Builds the public decision from a store outcome; the most constrained limit fills the summary fields. */
export function toDecision(outcome: StoreOutcome, meta: readonly ItemMeta[], degraded: boolean, reservation?: Reservation): Decision {
  const n = meta.length;
  const limits: LimitState[] = new Array<LimitState>(n);
  const failed = outcome.failed;
  let pick = failed === -1 ? 0 : failed;
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const m = meta[i]!;
    const s = outcome.states[i];
    const remaining = s === undefined ? 0 : s.remaining;
    limits[i] = {
      limit: m.name,
      scope: m.scope,
      workspaceId: m.workspaceId,
      max: m.max,
      remaining,
      resetAt: s === undefined ? outcome.now : s.resetAt,
      retryAfterMs: s === undefined ? 0 : s.retryAfterMs,
    };
    if (failed === -1 && remaining < least) {
      least = remaining;
      pick = i;
    }
  }
  const top = limits[pick];
  const limit = top === undefined ? 0 : top.max;
  const remaining = top === undefined ? 0 : top.remaining;
  const resetAt = top === undefined ? outcome.now : top.resetAt;
  if (outcome.allowed) {
    if (reservation === undefined) return { allowed: true, limit, remaining, resetAt, retryAfterMs: 0, degraded, shadowDenied: false, limits };
    return { allowed: true, limit, remaining, resetAt, retryAfterMs: 0, degraded, shadowDenied: false, reservation, limits };
  }
  const retryAfterMs = top === undefined ? 0 : top.retryAfterMs;
  const f = meta[failed];
  if (f === undefined) return { allowed: false, limit, remaining, resetAt, retryAfterMs, degraded, shadowDenied: false, limits };
  const reason = { limit: f.name, scope: f.scope, workspaceId: f.workspaceId, kind: f.limit.spec.kind };
  return { allowed: false, limit, remaining, resetAt, retryAfterMs, degraded, shadowDenied: false, reason, limits };
}

/** An allowed decision made without the store (fail-open). */
export function openDecision(meta: readonly ItemMeta[], now: number, reservation?: Reservation): Decision {
  const outcome: StoreOutcome = {
    allowed: true,
    failed: -1,
    granted: 0,
    now,
    found: true,
    states: meta.map((m) => ({ remaining: m.max, resetAt: now, retryAfterMs: 0 })),
  };
  return toDecision(outcome, meta, true, reservation);
}

/** A denied decision made without the store (fail-closed on limit `index`). */
export function closedDecision(meta: readonly ItemMeta[], index: number, now: number, retryAfterMs: number): Decision {
  const outcome: StoreOutcome = {
    allowed: false,
    failed: index,
    granted: 0,
    now,
    found: true,
    states: meta.map(() => ({ remaining: 0, resetAt: now + retryAfterMs, retryAfterMs })),
  };
  return toDecision(outcome, meta, true);
}
