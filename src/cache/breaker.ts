/**
 * A circuit breaker for the remote cache: after `threshold` consecutive outages (transient
 * errors that survived the store's own retries) the remote is not called at all for
 * `cooldownMs`, so a dead remote costs a build a few failed requests, not one per task.
 * After the cooldown one probe is let through (half-open): success closes the breaker, a
 * failure opens it for another cooldown.
 */

/** What the breaker needs of a clock (tests pass a fake one). */
export interface BreakerClock {
  now(): number;
}

export interface BreakerOptions {
  readonly threshold: number;
  readonly cooldownMs: number;
  readonly clock?: BreakerClock;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #clock: BreakerClock;
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #opened = 0;

  constructor(opts: BreakerOptions) {
    this.#threshold = Math.max(1, opts.threshold);
    this.#cooldownMs = opts.cooldownMs;
    this.#clock = opts.clock ?? { now: () => Date.now() };
  }

  get state(): BreakerState {
    if (this.#failures < this.#threshold) return 'closed';
    return this.#clock.now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** How many times the breaker opened (the first time is the one worth a warning). */
  get timesOpened(): number {
    return this.#opened;
  }

  /** Whether a request may go to the remote now. In half-open state only one probe at a time. */
  allow(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** A request succeeded (or failed for a reason that is not an outage, such as "not found"). */
  success(): void {
    this.#failures = 0;
    this.#probing = false;
  }

  /** A request failed with an outage. Returns true when this failure opened the breaker. */
  failure(): boolean {
    this.#probing = false;
    this.#failures += 1;
    if (this.#failures < this.#threshold) return false;
    this.#openUntil = this.#clock.now() + this.#cooldownMs;
    this.#opened += 1;
    return true;
  }
}
