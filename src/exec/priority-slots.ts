/**
 * A counting semaphore whose waiters are served highest priority first (ties: first come).
 * It limits how many commands run at once (`-j`) while letting cache checks and restores
 * proceed without a slot, and it is how critical-path ordering takes effect.
 */
import { onAbort } from '../util/abort-fanout.js';

export class PrioritySlots {
  #free: number;
  #seq = 0;
  readonly #waiters: { priority: number; seq: number; grant: (release: (() => void) | null) => void }[] = [];

  constructor(slots: number) {
    if (!(slots >= 1)) throw new RangeError(`slots must be >= 1, got ${slots}`);
    this.#free = slots;
  }

  /** Resolves with a release function, or null if `signal` aborted first. */
  acquire(priority: number, signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return Promise.resolve(null);
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free -= 1;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve) => {
      // A granted waiter stops waiting for the signal: one run's signal serves every task, and
      // callbacks left behind would pile up (and keep their waiters) until it ends. onAbort,
      // not a listener each: up to one waiter per task waits at once.
      let unsubscribe = (): void => undefined;
      const grant = (release: (() => void) | null): void => {
        unsubscribe();
        resolve(release);
      };
      const waiter = { priority, seq: this.#seq++, grant };
      this.#waiters.push(waiter);
      if (signal) {
        unsubscribe = onAbort(signal, () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) {
            this.#waiters.splice(i, 1);
            resolve(null);
          }
        });
      }
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#free += 1;
      this.#dispatch();
    };
  }

  #dispatch(): void {
    while (this.#free > 0 && this.#waiters.length > 0) {
      let best = 0;
      for (let i = 1; i < this.#waiters.length; i++) {
        const w = this.#waiters[i]!;
        const b = this.#waiters[best]!;
        if (w.priority > b.priority || (w.priority === b.priority && w.seq < b.seq)) best = i;
      }
      const [waiter] = this.#waiters.splice(best, 1);
      this.#free -= 1;
      waiter!.grant(this.#releaser());
    }
  }
}
