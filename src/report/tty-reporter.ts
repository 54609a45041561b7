import cliProgress from 'cli-progress';
import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import { HumanLines, type HumanOptions } from './human-lines.js';
import { formatDuration } from './style.js';

/**
 * For a developer's terminal: a progress bar (done/total, cache hits, running tasks, ETA)
 * pinned at the bottom, with the same lines as the plain reporter printed above it.
 */
export class TtyReporter implements Reporter {
  readonly #multi: cliProgress.MultiBar;
  #bar: cliProgress.SingleBar | undefined;
  readonly #lines: HumanLines;
  readonly #running = new Set<string>();
  #done = 0;
  #total = 0;
  #startedAt = performance.now();
  #hits = 0;
  #failed = 0;

  constructor(opts: HumanOptions, stream: NodeJS.WriteStream) {
    this.#multi = new cliProgress.MultiBar(
      {
        stream,
        format: `{bar} {value}/{total} | {hits} cached | {failed} failed | ETA {etaText} | {running}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    const log = (l: string): void => {
      if (this.#bar) this.#multi.log(`${l}\n`);
      else stream.write(`${l}\n`);
    };
    this.#lines = new HumanLines(opts, { out: log, err: log });
  }

  onEvent(e: RunEvent): void {
    if (e.type === 'run-finished') {
      this.#multi.stop();
      this.#bar = undefined;
      // After the bar is gone the lines go straight to the terminal.
      this.#lines.handle(e);
      return;
    }
    this.#lines.handle(e);
    if (e.type === 'run-started' && !e.dryRun) {
      this.#total = e.tasks.length;
      this.#startedAt = performance.now();
      this.#bar = this.#multi.create(e.tasks.length, 0, this.#payload());
    } else if (e.type === 'task-started') {
      this.#running.add(e.task);
    } else if (e.type === 'task-finished') {
      this.#running.delete(e.task);
      this.#done += 1;
      if (e.status === 'cached') this.#hits += 1;
      if (e.status === 'failed') this.#failed += 1;
    } else {
      return;
    }
    this.#bar?.update(this.#done, this.#payload());
  }

  #payload(): Record<string, string | number> {
    const names = [...this.#running];
    const running = names.length === 0 ? '' : names.slice(0, 3).join(', ') + (names.length > 3 ? ` +${names.length - 3}` : '');
    // Our own ETA: cli-progress prints "NFs" until it has a rate.
    const elapsed = performance.now() - this.#startedAt;
    const etaText = this.#done === 0 ? '--' : formatDuration((elapsed / this.#done) * (this.#total - this.#done));
    return { hits: this.#hits, failed: this.#failed, running, etaText };
  }

  close(): void {
    this.#multi.stop();
  }
}
