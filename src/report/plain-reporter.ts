import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import { HumanLines, type HumanOptions } from './human-lines.js';

/** For CI and pipes: one plain line per event, no carriage returns, ANSI only if colour was asked for. */
export class PlainReporter implements Reporter {
  readonly #lines: HumanLines;

  constructor(opts: HumanOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream) {
    this.#lines = new HumanLines(opts, {
      out: (l) => out.write(`${l}\n`),
      err: (l) => err.write(`${l}\n`),
    });
  }

  onEvent(event: RunEvent): void {
    this.#lines.handle(event);
  }
}
