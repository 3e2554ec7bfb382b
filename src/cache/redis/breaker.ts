/**
 * A circuit breaker for the Redis tier: after `threshold` consecutive
 * failures it opens for `cooldownMs`, during which calls fail at once instead
 * of each waiting for its timeout. After the cooldown exactly one call goes
 * through as a probe while the others keep failing at once (a recovering
 * Redis is not hit by every waiting caller together); the probe's success
 * closes the breaker, its failure reopens it for another cooldown.
 */
export class CircuitBreaker {
  #failures = 0;
  #openUntil = 0;
  #probing = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * True when a call may be sent now. After the cooldown the first caller
   * gets true and becomes the probe: it must report `success` or `failure`.
   */
  allow(): boolean {
    if (this.#openUntil === 0) return true;
    if (this.#probing || this.now() < this.#openUntil) return false;
    this.#probing = true;
    return true;
  }

  /** Open, or half-open with the probe in flight: calls fail at once. Reads only (claims no probe). */
  get open(): boolean {
    return this.#openUntil !== 0 && (this.#probing || this.now() < this.#openUntil);
  }

  success(): void {
    this.#failures = 0;
    this.#openUntil = 0;
    this.#probing = false;
  }

  failure(): void {
    this.#failures++;
    if (this.#probing || this.#failures >= this.threshold) this.#openUntil = this.now() + this.cooldownMs;
    this.#probing = false;
  }
}
