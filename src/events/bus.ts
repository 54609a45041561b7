import type { RunEvent } from './events.js';

/** A subscriber to run events. `close` lets a reporter flush before the process exits. */
export interface Reporter {
  onEvent(event: RunEvent): void;
  close?(): void | Promise<void>;
}

/**
 * Fans events out to reporters. A reporter that throws is detached and reported once on
 * stderr: a broken side channel must never take the build down with it.
 */
export class EventBus {
  readonly #reporters: Reporter[] = [];

  subscribe(reporter: Reporter): void {
    this.#reporters.push(reporter);
  }

  emit(event: RunEvent): void {
    for (const reporter of [...this.#reporters]) {
      try {
        reporter.onEvent(event);
      } catch (error) {
        this.#reporters.splice(this.#reporters.indexOf(reporter), 1);
        process.stderr.write(`reprovm: warning: a reporter failed and was detached: ${String(error)}\n`);
      }
    }
  }

  /** Lets every reporter finish (flush, write its file); one that fails is reported once and the rest still close. */
  async close(): Promise<void> {
    for (const reporter of this.#reporters) {
      try {
        await reporter.close?.();
      } catch (error) {
        process.stderr.write(`reprovm: warning: a reporter failed to finish: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
}
