/**
 * Ctrl-C and SIGTERM during a run: the first signal aborts the run (running tasks get SIGTERM,
 * then SIGKILL after the grace period; nothing partial is cached), a second one kills every
 * task process group at once and exits with the signal's code.
 */
import type { ProcessGroups } from '../exec/process-runner.js';
import { signalExitCode } from '../exec/process-runner.js';

/** The installed handlers of one run. */
export interface RunInterrupts {
  /** The signal that interrupted the run, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** Removes the handlers (when the run is over). */
  release(): void;
}

/** Installs the handlers; `interrupt` is the run's abort controller. */
export function trapInterrupts(interrupt: AbortController, groups: ProcessGroups, stderr: NodeJS.WritableStream): RunInterrupts {
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) {
      // Second signal: no more grace.
      groups.killAll('SIGKILL');
      stderr.write('reprovm: killed\n');
      process.exit(signalExitCode(received));
    }
    received = signal;
    stderr.write(`reprovm: ${signal === 'SIGINT' ? 'interrupted' : `received ${signal}`}: stopping running tasks (again to kill them at once)\n`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get signal() {
      return received;
    },
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
