import { err, ok, type Result } from "neverthrow";
import type { Clock } from "../core/clock.js";
import { closedDecision, openDecision, toDecision } from "./decision.js";
import type { ItemMeta } from "./request.js";
import type { StoreItem, StoreMode } from "./store.js";
import { MemoryQuotaStore } from "./stores/memory.js";
import type { Decision, QuotaError, Reservation } from "./types.js";

/**
 * What the guard does while its store is unavailable: a circuit breaker (so
 * an outage costs one timeout, then answers at once) and each limit's policy:
 * `open` allows, `closed` denies, `local` decides on an in-process limiter
 * with the same limits (shadow limits, which never deny, are always open).
 * Every decision made here says `degraded: true`.
 */
export class StoreFallback {
  readonly #clock: Clock;
  readonly #breakerMs: number;
  readonly #local: MemoryQuotaStore;
  #openUntil = 0;

  constructor(clock: Clock, breakerMs: number) {
    this.#clock = clock;
    this.#breakerMs = breakerMs;
    this.#local = new MemoryQuotaStore({ clock, maxKeys: 100_000 });
  }

  /** True while the breaker is open: the store is skipped until it may have recovered. */
  get open(): boolean {
    return this.#openUntil !== 0 && this.#clock.now() < this.#openUntil;
  }

  tripped(): void {
    this.#openUntil = this.#clock.now() + this.#breakerMs;
  }

  closed(): void {
    this.#openUntil = 0;
  }

  decide(mode: StoreMode, items: readonly StoreItem[], meta: readonly ItemMeta[], reservation: Reservation | undefined): Result<Decision, QuotaError> {
    const now = this.#clock.now();
    const retryAfterMs = Math.max(1, this.#openUntil - now);
    // A shadow limit only reports; it never denies, so its failure policy cannot deny either.
    for (let i = 0; i < meta.length; i++) if (meta[i]!.limit.onStoreFailure === "closed" && !meta[i]!.limit.shadow) return ok(closedDecision(meta, i, now, retryAfterMs));
    const localItems: StoreItem[] = [];
    const localMeta: ItemMeta[] = [];
    for (let i = 0; i < meta.length; i++) {
      if (meta[i]!.limit.onStoreFailure === "local" && !meta[i]!.limit.shadow) {
        localItems.push(items[i]!);
        localMeta.push(meta[i]!);
      }
    }
    if (localItems.length === 0) return ok(openDecision(meta, now, reservation));
    const outcome = this.#local.applySync({ mode, items: localItems, ...(reservation === undefined ? {} : { reservationId: reservation.id }) });
    if (outcome.isErr()) return err(outcome.error);
    return ok(toDecision(outcome.value, localMeta, true, reservation));
  }
}
