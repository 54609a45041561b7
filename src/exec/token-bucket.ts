/**
 * Token bucket gating task starts: at most `burst` starts at once, refilled at `rate` per
 * second. `rate = Infinity` disables the limit. The clock and timer are injectable so tests
 * are deterministic.
 */
import { abortableSleep } from '../util/sleep.js';
export interface Clock {
  now(): number; // milliseconds
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: abortableSleep,
};

export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;
  /** Waiters are served in order so a stream of acquirers cannot starve one. */
  #queue: Promise<void> = Promise.resolve();

  constructor(rate: number, burst: number, clock: Clock = realClock) {
    if (!(rate > 0)) throw new RangeError(`rate must be > 0, got ${rate}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be >= 1, got ${burst}`);
    this.#rate = rate;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  get unlimited(): boolean {
    return this.#rate === Infinity;
  }

  /** Resolves when a token was taken, or when `signal` aborts (then no token is taken). */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.unlimited) return Promise.resolve();
    const next = this.#queue.then(() => this.#take(signal));
    this.#queue = next;
    return next;
  }

  async #take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return;
      this.#refill();
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      const waitMs = ((1 - this.#tokens) / this.#rate) * 1000;
      await this.#clock.sleep(Math.max(1, Math.ceil(waitMs)), signal);
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
  }
}
