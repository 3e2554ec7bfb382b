import type { Decision } from "./types.js";

/**
 * HTTP headers for a decision, following the IETF RateLimit header fields
 * draft (`RateLimit-Policy`, `RateLimit`) plus `Retry-After` on a denial that
 * has a time to retry at.
 * Times are whole seconds, rounded up so a client never retries early.
 *
 * @example
 * const d = await guard.consume({ workspaceId, limit: "ingestRate" });
 * if (d.isOk()) reply.headers(rateLimitHeaders(d.value, { now: Date.now() }));
 */
export function rateLimitHeaders(decision: Decision, options: { now?: number; policyName?: string } = {}): Record<string, string> {
  const now = options.now ?? Date.now();
  const name = options.policyName ?? decision.reason?.limit ?? decision.limits[0]?.limit ?? "quota";
  const reset = Math.max(0, Math.ceil((decision.resetAt - now) / 1000));
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"${name}";q=${decision.limit}`,
    RateLimit: `"${name}";r=${decision.remaining};t=${reset}`,
  };
  // A denial with no retry time (a full count limit) gets no Retry-After: retrying would not help.
  if (!decision.allowed && decision.retryAfterMs > 0) headers["Retry-After"] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}
