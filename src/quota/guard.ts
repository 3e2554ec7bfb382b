import { randomUUID } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { systemClock, type Clock } from "../core/clock.js";
import { describeValue, invalidInput, tenancyError } from "../core/errors.js";
import { silentLogger, type TenancyLogger } from "../core/logger.js";
import { noopMetricsSink, type TenantMetricsSink } from "../core/metrics-sink.js";
import { parseWorkspaceId, type WorkspaceId } from "../core/workspace-id.js";
import { toDecision } from "./decision.js";
import { StoreFallback } from "./fallback.js";
import type { HandleMemo, NearLimitEvent, QuotaGuardOptions, QuotaRequest, WorkspaceQuota } from "./guard-types.js";
import { LeaseBook, type LeaseStats } from "./leases.js";
import { fireNearLimit } from "./near-limit.js";
import { StaticPolicySource } from "./policy.js";
import { notAnObject, prepare, reservationOf, type ItemMeta, type PreparedRequest } from "./request.js";
import { itemMeta, PolicyResolver, type BoundLimit, type BoundWorkspace } from "./resolver.js";
import { KIND_CONCURRENCY, KIND_COUNT, KIND_PERIOD, type QuotaStore, type StoreItem, type StoreMode, type StoreOutcome } from "./store.js";
import { MemoryQuotaStore } from "./stores/memory.js";
import type { Decision, LimitState, QuotaError, Reservation } from "./types.js";

/**
 * Per-workspace quotas, rate limits and concurrency limits behind one API.
 * Decisions are data (`ok({ allowed: false, … })` for a denial); errors are
 * only for bad input and unusable stores. A denied call consumes nothing.
 *
 * @example
 * const guard = new QuotaGuard({ policies: { plans, defaultPlan: "free" }, store: redisQuotaStore({ client }) });
 * const d = await guard.consume({ workspaceId, limit: "messagesPerMonth" });
 * if (d.isOk() && !d.value.allowed) return err({ type: "QuotaExceeded", retryAfterMs: d.value.retryAfterMs });
 */
export class QuotaGuard {
  readonly store: QuotaStore;
  readonly #resolver: PolicyResolver;
  readonly #clock: Clock;
  readonly #fallback: StoreFallback;
  readonly #nearRatio: number;
  readonly #onNearLimit: ((event: NearLimitEvent) => void) | undefined;
  readonly #onDecision: ((workspaceId: WorkspaceId, decision: Decision) => void) | undefined;
  readonly #metrics: TenantMetricsSink;
  readonly #logger: TenancyLogger;
  readonly #sync: ((request: { mode: StoreMode; items: readonly StoreItem[] }) => Result<StoreOutcome, QuotaError>) | undefined;
  readonly #leases: LeaseBook | undefined;
  /** True when the memory store was created here with the guard's clock, so one reading serves both. */
  readonly #sharedClock: boolean;

  /** @throws TypeError listing every invalid option (a programmer error). */
  constructor(options: QuotaGuardOptions) {
    const problems: string[] = [];
    const cacheMs = options.policyCacheMs ?? 5_000;
    const breakerMs = options.breakerMs ?? 1_000;
    const nearRatio = options.nearLimitRatio ?? 0.8;
    if (!Number.isFinite(cacheMs) || cacheMs < 0) problems.push(`policyCacheMs must be >= 0, got ${cacheMs}`);
    if (!Number.isFinite(breakerMs) || breakerMs < 0) problems.push(`breakerMs must be >= 0, got ${breakerMs}`);
    if (!(nearRatio > 0 && nearRatio <= 1)) problems.push(`nearLimitRatio must be in (0, 1], got ${nearRatio}`);
    if (typeof options.policies !== "object" || options.policies === null) problems.push("policies is required");
    if (problems.length > 0) throw new TypeError(`QuotaGuard: ${problems.join("; ")}`);
    this.#clock = options.clock ?? systemClock;
    this.store = options.store ?? new MemoryQuotaStore({ clock: this.#clock });
    this.#sharedClock = options.store === undefined;
    const source = "resolve" in options.policies ? options.policies : new StaticPolicySource(options.policies);
    this.#resolver = new PolicyResolver(source, this.store, this.#clock, cacheMs);
    this.#fallback = new StoreFallback(this.#clock, breakerMs);
    this.#nearRatio = nearRatio;
    this.#onNearLimit = options.onNearLimit;
    this.#onDecision = options.onDecision;
    this.#metrics = options.metrics ?? noopMetricsSink;
    this.#logger = options.logger ?? silentLogger;
    const store = this.store as QuotaStore & { applySync?: (r: { mode: StoreMode; items: readonly StoreItem[] }) => Result<StoreOutcome, QuotaError> };
    this.#sync = typeof store.applySync === "function" ? store.applySync.bind(store) : undefined;
    this.#leases = options.leased === undefined || options.leased === false ? undefined : new LeaseBook(this.store, this.#clock, options.leased === true ? {} : options.leased, () => this.#fallback.open);
  }

  /** Consumes `cost` of each limit if every one allows it; otherwise nothing. */
  consume(request: QuotaRequest): Promise<Result<Decision, QuotaError>> {
    return this.#entry(request, "consume");
  }

  /** Decides as `consume` would, consuming nothing. */
  check(request: QuotaRequest): Promise<Result<Decision, QuotaError>> {
    return this.#entry(request, "check");
  }

  /**
   * Holds count capacity (a resource about to be created) or concurrency
   * capacity (a lease) under `decision.reservation`, with a TTL; rate and
   * period limits in the same call are consumed. Settle with `commit`/`release`.
   */
  reserve(request: QuotaRequest): Promise<Result<Decision, QuotaError>> {
    return this.#entry(request, "reserve");
  }

  /** A concurrency lease: `reserve` by another name; `release` it when done (or let it expire). */
  acquire(request: QuotaRequest): Promise<Result<Decision, QuotaError>> {
    return this.#entry(request, "reserve");
  }

  /** Turns a reservation into usage (the resource was created). `found: false` means it had expired but was counted anyway. */
  commit(input: { readonly reservation: Reservation }): Promise<Result<{ found: boolean }, QuotaError>> {
    return this.#settle(reservationOf(input), "commit");
  }

  /** Gives a reservation or lease back (the resource was not created, the work finished). */
  release(input: { readonly reservation: Reservation }): Promise<Result<{ found: boolean }, QuotaError>> {
    return this.#settle(reservationOf(input), "release");
  }

  /**
   * Sets a count (or period) limit's usage to the true value, e.g. `count(*)` from Postgres.
   * In leased mode this guard's own lease on the limit is dropped first; units
   * other processes hold in leases at that moment are not in the true count and
   * are admitted uncounted (at most `maxLeaseUnits` per process, and only until
   * their leases end), so reconcile a limit consumed in leased mode while it is quiet.
   */
  async reconcile(input: { readonly workspaceId: string; readonly limit: string; readonly actual: number }): Promise<Result<Decision, QuotaError>> {
    if (typeof input !== "object" || input === null) return notAnObject();
    const { workspaceId, limit, actual } = input;
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    if (typeof actual !== "number" || !Number.isSafeInteger(actual) || actual < 0) {
      return err(invalidInput(`actual must be a non-negative integer, got ${describeValue(actual)}`, { workspaceId: id.value }));
    }
    if (typeof limit !== "string") return err(invalidInput("limit must be a limit name", { workspaceId: id.value }));
    const bound = await this.#resolver.bind(id.value);
    if (bound.isErr()) return err(bound.error);
    const b = bound.value.limits.get(limit);
    if (b === undefined) return err(tenancyError("UnknownLimit", `workspace has no limit named ${JSON.stringify(limit.slice(0, 80))}`, { workspaceId: id.value }));
    if (b.own.kind !== KIND_COUNT && b.own.kind !== KIND_PERIOD) return err(invalidInput(`${limit}: only count and period limits can be reconciled`, { workspaceId: id.value }));
    const item: StoreItem = { ...b.unitItems[0]!, cost: actual };
    const meta: ItemMeta[] = [itemMeta(limit, "own", id.value, b.own)];
    // Units this process holds in a lease would otherwise be spent uncounted once usage is reset.
    const done = await this.#leases?.discard(item.key);
    const outcome = await this.store.apply({ mode: "reconcile", items: [item] }).finally(done);
    if (outcome.isErr()) return err(outcome.error);
    return ok(toDecision(outcome.value, meta, false));
  }

  /** A handle bound to one workspace; the hot path parses nothing and builds no strings. */
  workspace(workspaceId: string): Result<WorkspaceQuota, QuotaError> {
    const id = parseWorkspaceId(workspaceId);
    if (id.isErr()) return err(id.error);
    const wid = id.value;
    const memo: HandleMemo = { bound: undefined, generation: -1, name: undefined, limit: undefined, box: undefined };
    // A request that is not an object is refused here: the paths below read its fields.
    return ok({
      workspaceId: wid,
      consume: (r) => (typeof r === "object" && r !== null ? this.#fast(wid, "consume", r, memo) : notAnObject()),
      check: (r) => (typeof r === "object" && r !== null ? this.#fast(wid, "check", r, memo) : notAnObject()),
      reserve: (r) => (typeof r === "object" && r !== null ? this.#decide(wid, "reserve", r) : notAnObject()),
    });
  }

  /** Drops cached policies so a plan change applies on the next call. */
  invalidatePolicies(workspaceId?: string): void {
    const id = workspaceId === undefined ? undefined : parseWorkspaceId(workspaceId);
    if (id === undefined) this.#resolver.invalidate();
    else if (id.isOk()) this.#resolver.invalidate(id.value);
  }

  /** Leased mode: units held in leases and under-admission so far. */
  leaseStats(): LeaseStats | undefined {
    return this.#leases?.stats();
  }

  /** Returns every unused leased unit to the store (call on shutdown). */
  async close(): Promise<void> {
    await this.#leases?.close();
  }

  #entry(request: QuotaRequest, mode: StoreMode): Promise<Result<Decision, QuotaError>> {
    if (typeof request !== "object" || request === null) return notAnObject();
    const id = parseWorkspaceId(request.workspaceId);
    if (id.isErr()) return Promise.resolve(err(id.error));
    return this.#fast(id.value, mode, request);
  }

  /**
   * The hot path: a cached policy, one limit at cost 1, a synchronous (memory)
   * store: no async frames, no allocations beyond the decision itself.
   * Everything else goes through `#decide`.
   */
  #fast(workspaceId: WorkspaceId, mode: StoreMode, request: Omit<QuotaRequest, "workspaceId">, memo?: HandleMemo): Promise<Result<Decision, QuotaError>> {
    const leases = this.#leases;
    if (leases !== undefined && mode === "consume" && request.cost === undefined && request.limits === undefined) {
      // One clock read serves the policy cache and the lease's expiry.
      const now = this.#clock.now();
      const b = this.#boundLimit(workspaceId, request.limit, now, memo);
      const local = b === undefined || b.shadow ? undefined : leases.tryLocal(b.unitItems, now);
      if (local !== undefined) return Promise.resolve(this.#report(workspaceId, ok(local), b!.costs));
    }
    const sync = this.#sync;
    if (sync !== undefined && this.#leases === undefined && request.cost === undefined && request.limits === undefined && (mode === "consume" || mode === "check") && !this.#fallback.open) {
      // One clock read serves the policy cache and the store (the guard and the memory store share the clock).
      const now = this.#clock.now();
      const b = this.#boundLimit(workspaceId, request.limit, now, memo);
      if (b !== undefined && b.raw && mode === "consume") return Promise.resolve(this.#rawDecision(workspaceId, b, now, memo));
      if (b !== undefined && !b.shadow && b.own.kind !== KIND_CONCURRENCY) {
        const outcome = sync(mode === "consume" ? b.consumeUnit : b.checkUnit);
        if (outcome.isOk()) return Promise.resolve(this.#report(workspaceId, ok(toDecision(outcome.value, b.meta, false)), b.costs));
      }
    }
    if (sync === undefined && this.#leases === undefined && (mode === "consume" || mode === "check") && !this.#fallback.open) {
      // Async store, cached policy: straight to the store, no intermediate async frames.
      if (request.cost === undefined && request.limits === undefined) {
        // One limit at cost 1: the prebuilt request (and, from a handle, the remembered binding).
        const b = this.#boundLimit(workspaceId, request.limit, this.#clock.now(), memo);
        if (b !== undefined && (mode === "check" || b.own.kind !== KIND_CONCURRENCY)) {
          const unit = b.unit;
          return this.store.apply(mode === "consume" ? b.consumeUnit : b.checkUnit).then((outcome) => this.#outcome(workspaceId, mode, unit, undefined, outcome));
        }
      }
      const bound = this.#resolver.cached(workspaceId);
      if (bound !== undefined) {
        const prepared = prepare(bound, mode, request.limit, request.cost, request.limits);
        if (prepared.isErr()) return Promise.resolve(err(prepared.error));
        const p = prepared.value;
        return this.store.apply({ mode, items: p.items }).then((outcome) => this.#outcome(workspaceId, mode, p, undefined, outcome));
      }
    }
    return this.#decide(workspaceId, mode, request);
  }

  /**
   * The bound limit for a one-limit call. A handle remembers the last one it
   * used (same name, binding still fresh, no invalidation since), which saves
   * the two Map lookups of the policy cache on the hot path.
   */
  #boundLimit(workspaceId: WorkspaceId, name: string | undefined, now: number, memo: HandleMemo | undefined): BoundLimit | undefined {
    if (memo !== undefined && memo.name === name && memo.bound !== undefined && memo.bound.expiresAt > now && memo.generation === this.#resolver.generation) return memo.limit;
    const bound = this.#resolver.cached(workspaceId, now);
    const b = bound === undefined || typeof name !== "string" ? undefined : bound.limits.get(name);
    if (memo !== undefined && b !== undefined) {
      memo.bound = bound;
      memo.generation = this.#resolver.generation;
      memo.name = name;
      memo.limit = b;
      memo.box = undefined;
    }
    return b;
  }

  /** One GCRA limit on the memory store: decide from one number, build the decision directly. */
  #rawDecision(workspaceId: WorkspaceId, b: BoundLimit, now: number, memo: HandleMemo | undefined): Result<Decision, QuotaError> {
    const store = this.store as MemoryQuotaStore;
    const item = b.unitItems[0]!;
    const r = store.gcraConsumeRaw(item, this.#sharedClock ? now : undefined, memo);
    if (Number.isNaN(r)) return this.#report(workspaceId, this.#sync!(b.consumeUnit).map((o) => toDecision(o, b.meta, false)), b.costs);
    const resetAt = store.lastResetAt;
    const allowed = r >= 0;
    const remaining = allowed ? r : 0;
    const retryAfterMs = allowed ? 0 : -r;
    const m = b.meta[0]!;
    const limits: LimitState[] = [{ limit: m.name, scope: "own", workspaceId, max: item.limit, remaining, resetAt, retryAfterMs }];
    const decision: Decision = allowed
      ? { allowed, limit: item.limit, remaining, resetAt, retryAfterMs, degraded: false, shadowDenied: false, limits }
      : { allowed, limit: item.limit, remaining, resetAt, retryAfterMs, degraded: false, shadowDenied: false, reason: { limit: m.name, scope: "own", workspaceId, kind: "rate" }, limits };
    return this.#report(workspaceId, ok(decision), b.costs);
  }

  async #decide(workspaceId: WorkspaceId, mode: StoreMode, request: Omit<QuotaRequest, "workspaceId">): Promise<Result<Decision, QuotaError>> {
    let bound = this.#resolver.cached(workspaceId);
    if (bound === undefined) {
      const resolved = await this.#resolver.bind(workspaceId);
      if (resolved.isErr()) return err(resolved.error);
      bound = resolved.value;
    }
    const prepared = prepare(bound, mode, request.limit, request.cost, request.limits);
    if (prepared.isErr()) return err(prepared.error);
    if (this.#leases !== undefined && mode === "consume") {
      const leased = await this.#leases.consume(prepared.value);
      // A lease call that found the store unavailable is answered by the failure policy, without a second store call.
      if (leased !== undefined && leased.isErr() && leased.error.type === "StoreUnavailable") return this.#storeDown(workspaceId, mode, prepared.value, undefined, leased.error);
      if (leased !== undefined) return this.#report(workspaceId, leased, prepared.value.costs);
    }
    const reservation = mode === "reserve" ? this.#reservation(bound, prepared.value) : undefined;
    return this.#run(workspaceId, mode, prepared.value, reservation);
  }

  async #run(workspaceId: WorkspaceId, mode: StoreMode, prepared: PreparedRequest, reservation: Reservation | undefined): Promise<Result<Decision, QuotaError>> {
    const { items, meta } = prepared;
    if (this.#fallback.open) return this.#report(workspaceId, this.#fallback.decide(mode, items, meta, reservation));
    const request = reservation === undefined ? { mode, items } : { mode, items, reservationId: reservation.id };
    const outcome = this.#sync !== undefined ? this.#sync(request) : await this.store.apply(request);
    return this.#outcome(workspaceId, mode, prepared, reservation, outcome);
  }

  /** The store answered (or failed): the decision, the failure policy, or a shadow re-run. */
  #outcome(
    workspaceId: WorkspaceId,
    mode: StoreMode,
    prepared: PreparedRequest,
    reservation: Reservation | undefined,
    outcome: Result<StoreOutcome, QuotaError>,
  ): Result<Decision, QuotaError> | Promise<Result<Decision, QuotaError>> {
    const { meta } = prepared;
    if (outcome.isErr()) {
      if (outcome.error.type !== "StoreUnavailable") return err(outcome.error);
      return this.#storeDown(workspaceId, mode, prepared, reservation, outcome.error);
    }
    this.#fallback.closed();
    const value = outcome.value;
    if (!value.allowed && meta[value.failed]?.limit.shadow === true && mode !== "check") return this.#shadowRetry(workspaceId, mode, prepared, reservation, value);
    return this.#report(workspaceId, ok(toDecision(value, meta, false, reservation)), prepared.costs);
  }

  /** The store is unavailable: open the breaker and decide by each limit's failure policy. */
  #storeDown(workspaceId: WorkspaceId, mode: StoreMode, prepared: PreparedRequest, reservation: Reservation | undefined, error: QuotaError): Result<Decision, QuotaError> {
    this.#fallback.tripped();
    this.#logger.warn({ workspaceId, err: error }, "quota store unavailable; deciding by failure policy");
    return this.#report(workspaceId, this.#fallback.decide(mode, prepared.items, prepared.meta, reservation));
  }

  /** A shadow limit denied: decide again without shadow limits, and say so. */
  async #shadowRetry(workspaceId: WorkspaceId, mode: StoreMode, prepared: PreparedRequest, reservation: Reservation | undefined, denied: StoreOutcome): Promise<Result<Decision, QuotaError>> {
    const keep = prepared.meta.map((m) => !m.limit.shadow);
    const items = prepared.items.filter((_, i) => keep[i]);
    const meta = prepared.meta.filter((_, i) => keep[i]);
    const deniedBy = prepared.meta[denied.failed]!;
    this.#metrics.add(workspaceId, "quota_shadow_denied_total", 1);
    this.#logger.info({ workspaceId, limit: deniedBy.name, scope: deniedBy.scope }, "shadow quota limit would deny");
    if (items.length === 0) {
      const allowed = { ...toDecision({ ...denied, allowed: true, failed: -1 }, prepared.meta, false, reservation), shadowDenied: true };
      return this.#report(workspaceId, ok(allowed));
    }
    const rerun = await this.#run(workspaceId, mode, { items, meta, costs: prepared.costs }, reservation);
    return rerun.map((d) => (d.allowed ? { ...d, shadowDenied: true } : d));
  }

  #reservation(bound: BoundWorkspace, prepared: PreparedRequest): Reservation {
    return {
      id: randomUUID(),
      workspaceId: bound.workspaceId,
      ...(bound.parentWorkspaceId === undefined ? {} : { parentWorkspaceId: bound.parentWorkspaceId }),
      items: prepared.costs,
    };
  }

  async #settle(reservation: Reservation, mode: "commit" | "release"): Promise<Result<{ found: boolean }, QuotaError>> {
    if (typeof reservation !== "object" || reservation === null || typeof reservation.id !== "string" || !Array.isArray(reservation.items)) {
      return err(invalidInput("reservation must be the object a reserve() decision returned"));
    }
    const id = parseWorkspaceId(reservation.workspaceId);
    if (id.isErr()) return err(id.error);
    const bound = await this.#resolver.bind(id.value);
    if (bound.isErr()) return err(bound.error);
    const prepared = prepare(bound.value, mode, undefined, undefined, reservation.items);
    if (prepared.isErr()) return err(prepared.error);
    const outcome = await this.store.apply({ mode, items: prepared.value.items, reservationId: reservation.id });
    if (outcome.isErr()) return err(outcome.error);
    return ok({ found: outcome.value.found });
  }

  #report(workspaceId: WorkspaceId, result: Result<Decision, QuotaError>, costs?: PreparedRequest["costs"]): Result<Decision, QuotaError> {
    if (result.isErr()) return result;
    const d = result.value;
    // Most guards have no metrics sink: skip the no-op calls on the hot path.
    if (this.#metrics !== noopMetricsSink) {
      this.#metrics.add(workspaceId, d.allowed ? "quota_allowed_total" : "quota_denied_total", 1);
      if (d.degraded) this.#metrics.add(workspaceId, "quota_degraded_total", 1);
    }
    if (d.allowed && this.#onNearLimit !== undefined && costs !== undefined) fireNearLimit(d, costs, this.#nearRatio, this.#onNearLimit);
    this.#onDecision?.(workspaceId, d);
    return result;
  }
}

export type { NearLimitEvent, QuotaGuardOptions, QuotaRequest, WorkspaceQuota } from "./guard-types.js";
