/**
 * A circuit breaker for the Redis tier: after `threshold` consecutive
 * failures it opens for `cooldownMs`, during which calls fail at once instead
 * of each waiting for its timeout; the first call after the cooldown is a
 * probe, and one more failure reopens it.
 */
export class CircuitBreaker {
  #failures = 0;
  #openUntil = 0;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when a call may be sent now. */
  allow(): boolean {
    return this.#openUntil === 0 || this.now() >= this.#openUntil;
  }

  get open(): boolean {
    return !this.allow();
  }

  success(): void {
    this.#failures = 0;
    this.#openUntil = 0;
  }

  failure(): void {
    this.#failures++;
    const probing = this.#openUntil !== 0;
    if (probing || this.#failures >= this.threshold) this.#openUntil = this.now() + this.cooldownMs;
  }
}
