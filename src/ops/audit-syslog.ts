/**
 * The optional syslog copy of audit entries (`[audit] syslog = 1`): one long-lived `logger -t
 * reprovm` child per log, fed one JSON line per entry on its stdin — one process per run, not
 * per entry. Writes are asynchronous pipe writes; the child is unref'd, so it never keeps a run
 * alive, and `close()` waits at most {@link CLOSE_WAIT_MS} for it to drain. A missing `logger`
 * is one warning, then the copy is off.
 */
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

// child_process (with net and dgram) loads only when a syslog copy starts: it costs the start-up
// of every run ~3 ms, and most runs have no syslog copy.
const lazyRequire = createRequire(import.meta.url);

const CLOSE_WAIT_MS = 1000;

export class SyslogCopy {
  #child: ChildProcess | undefined;
  #failed = false;
  readonly #warn: (message: string) => void;

  constructor(warn: (message: string) => void) {
    this.#warn = warn;
  }

  #start(): ChildProcess | undefined {
    if (this.#failed) return undefined;
    if (this.#child) return this.#child;
    const { spawn } = lazyRequire('node:child_process') as typeof import('node:child_process');
    const child = spawn('logger', ['-t', 'reprovm', '--size', '65536'], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', (e) => this.#fail(`cannot run logger for the syslog copy of the audit log: ${e.message}`));
    child.stdin?.on('error', (e) => this.#fail(`the syslog copy of the audit log failed: ${e.message}`));
    child.unref();
    // The pipe would keep the event loop alive too.
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.#child = child;
    return child;
  }

  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#warn(message);
  }

  /** Sends lines (each a whole audit entry). */
  send(lines: readonly string[]): void {
    const child = this.#start();
    if (!child?.stdin || child.stdin.destroyed) return;
    child.stdin.write(lines.map((l) => `${l}\n`).join(''));
  }

  /** Ends the child's input and waits a bounded time for it to pass everything on. */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
  }
}
