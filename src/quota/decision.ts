import type { ItemMeta } from "./request.js";
import type { StoreOutcome } from "./store.js";
import type { Decision, LimitState, Reservation } from "./types.js";

/** Builds the public decision from a store outcome; the most constrained limit fills the summary fields. */
export function toDecision(outcome: StoreOutcome, meta: readonly ItemMeta[], degraded: boolean, reservation?: Reservation): Decision {
  const limits: LimitState[] = new Array<LimitState>(meta.length);
  let pick = outcome.failed;
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < meta.length; i++) {
    const m = meta[i]!;
    const s = outcome.states[i];
    const remaining = s?.remaining ?? 0;
    limits[i] = {
      limit: m.name,
      scope: m.scope,
      workspaceId: m.workspaceId,
      max: m.limit.limit,
      remaining,
      resetAt: s?.resetAt ?? outcome.now,
      retryAfterMs: s?.retryAfterMs ?? 0,
    };
    if (outcome.failed === -1 && remaining < least) {
      least = remaining;
      pick = i;
    }
  }
  const top = limits[pick === -1 ? 0 : pick];
  const failedMeta = outcome.failed === -1 ? undefined : meta[outcome.failed];
  const decision: Decision = {
    allowed: outcome.allowed,
    limit: top?.max ?? 0,
    remaining: top?.remaining ?? 0,
    resetAt: top?.resetAt ?? outcome.now,
    retryAfterMs: outcome.allowed ? 0 : (top?.retryAfterMs ?? 0),
    degraded,
    shadowDenied: false,
    ...(failedMeta === undefined
      ? {}
      : { reason: { limit: failedMeta.name, scope: failedMeta.scope, workspaceId: failedMeta.workspaceId, kind: failedMeta.limit.spec.kind } }),
    ...(reservation === undefined || !outcome.allowed ? {} : { reservation }),
    limits,
  };
  return decision;
}

/** An allowed decision made without the store (fail-open). */
export function openDecision(meta: readonly ItemMeta[], now: number, reservation?: Reservation): Decision {
  const outcome: StoreOutcome = {
    allowed: true,
    failed: -1,
    granted: 0,
    now,
    found: true,
    states: meta.map((m) => ({ remaining: m.limit.limit, resetAt: now, retryAfterMs: 0 })),
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
