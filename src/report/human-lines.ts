import type { RunEvent, TaskFailure } from '../events/events.js';
import { formatBytes, formatDuration, plural, type Style } from './style.js';
import { renderSummary } from './summary.js';

export type OutputMode = 'prefixed' | 'grouped';

export interface HumanOptions {
  readonly style: Style;
  readonly verbose: boolean;
  readonly quiet: boolean;
  readonly outputMode: OutputMode;
  /** With one job, live output is printed as is; with more it is prefixed with the task name. */
  readonly jobs: number;
}

/** Where the formatted text goes: normal lines and warnings/errors. */
export interface LineSink {
  out(line: string): void;
  err(line: string): void;
}

/**
 * Turns run events into the lines a person reads, shared by the plain (CI) and the TTY
 * reporter. Live output is prefixed with the task name when tasks run in parallel, or held
 * back and printed in one block per task (`--output-mode grouped`). With `-q` only failures
 * print their output.
 */
export class HumanLines {
  readonly #o: HumanOptions;
  readonly #sink: LineSink;
  readonly #held = new Map<string, string[]>();
  readonly #failures: { failure: TaskFailure }[] = [];
  readonly #announcedReplay = new Set<string>();

  constructor(opts: HumanOptions, sink: LineSink) {
    this.#o = opts;
    this.#sink = sink;
  }

  get #holdOutput(): boolean {
    return this.#o.quiet || this.#o.outputMode === 'grouped';
  }

  handle(e: RunEvent): void {
    const s = this.#o.style;
    switch (e.type) {
      case 'run-started':
        if (this.#o.verbose) this.#sink.out(s.dim(`reprovm: ${plural(e.tasks.length, 'task')}, ${e.jobs} jobs, workspace ${e.workspace}`));
        break;
      case 'task-started':
        if (!this.#o.quiet) {
          const notes = [e.explain, this.#o.verbose && e.reason ? `${e.reason}, key ${e.key.slice(0, 12)}` : undefined];
          const shown = notes.filter((n): n is string => n !== undefined && n !== '');
          const why = shown.length > 0 ? ` (${shown.join('; ')})` : '';
          const attempt = e.attempt > 1 ? ` (attempt ${e.attempt})` : '';
          this.#sink.out(`${this.#tag(e.task)} started${attempt}${why}`);
        }
        break;
      case 'task-output':
        this.#output(e.task, e.line, e.replay);
        break;
      case 'task-retry':
        this.#sink.err(`${this.#tag(e.task)} ${s.yellow('retrying')} in ${formatDuration(e.delayMs)}: ${e.failure.message}`);
        break;
      case 'task-finished':
        this.#finished(e);
        break;
      case 'task-planned': {
        const verb = e.action === 'run' ? s.yellow('would run') : e.action === 'restore' ? s.cyan('would restore') : s.green('up to date');
        this.#sink.out(`${this.#tag(e.task)} ${verb}: ${e.reason}`);
        // The details, indented; a reason that only repeats the headline is not printed twice.
        for (const r of e.reasons ?? []) if (r !== e.reason) for (const line of r.split('\n')) this.#sink.out(`  ${line}`);
        break;
      }
      case 'warning':
        this.#sink.err(`reprovm: ${s.yellow('warning')}: ${e.message}`);
        break;
      case 'run-finished':
        for (const { failure } of this.#failures) this.#sink.err(`reprovm: ${s.red('error')}: ${failure.message}`);
        this.#sink.out(renderSummary(e.summary, s));
        break;
    }
  }

  #tag(task: string): string {
    return this.#o.style.bold(`[${task}]`);
  }

  #output(task: string, line: string, replay: boolean): void {
    if (replay && this.#o.quiet) return;
    if (this.#holdOutput) {
      let held = this.#held.get(task);
      if (!held) this.#held.set(task, (held = []));
      held.push(line);
      return;
    }
    if (replay && !this.#announcedReplay.has(task)) {
      this.#announcedReplay.add(task);
      this.#sink.out(`${this.#tag(task)} ${this.#o.style.dim('cache hit, replaying output')}`);
    }
    this.#sink.out(this.#o.jobs > 1 || replay ? `${this.#tag(task)} ${line}` : line);
  }

  #flushHeld(task: string, show: boolean): void {
    const held = this.#held.get(task);
    this.#held.delete(task);
    if (!show || !held) return;
    for (const line of held) this.#sink.out(`${this.#tag(task)} ${line}`);
  }

  #finished(e: Extract<RunEvent, { type: 'task-finished' }>): void {
    const s = this.#o.style;
    const tag = this.#tag(e.task);
    switch (e.status) {
      case 'executed':
        this.#flushHeld(e.task, !this.#o.quiet);
        if (!this.#o.quiet) this.#sink.out(`${tag} ${s.green('done')} in ${formatDuration(e.durationMs)}`);
        break;
      case 'cached': {
        this.#flushHeld(e.task, !this.#o.quiet);
        const c = e.cache;
        if (c?.result !== 'hit') break;
        if (c.upToDate) {
          if (this.#o.verbose) this.#sink.out(`${tag} ${s.dim('up to date')}`);
        } else if (!this.#o.quiet) {
          this.#sink.out(
            `${tag} ${s.cyan(c.source === 'remote' ? 'restored from the remote cache' : 'restored from cache')} (${plural(c.filesRestored, 'file')}, ${formatBytes(c.bytesRestored)}${c.bytesDownloaded === undefined ? '' : `, ${formatBytes(c.bytesDownloaded)} downloaded`}, saved ${formatDuration(c.savedMs)})`,
          );
        }
        break;
      }
      case 'failed':
        this.#flushHeld(e.task, true);
        if (e.failure) {
          this.#failures.push({ failure: e.failure });
          this.#sink.err(`${tag} ${s.red('FAILED')}: ${e.failure.message}`);
        }
        break;
      case 'skipped':
        this.#flushHeld(e.task, false);
        if (!this.#o.quiet || this.#o.verbose) {
          const why = e.skippedBecause === 'interrupted' ? 'run interrupted' : `dependency "${e.skippedBecause}" failed`;
          this.#sink.out(`${tag} ${s.yellow('skipped')}: ${why}`);
        }
        break;
    }
  }
}
