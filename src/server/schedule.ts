/**
 * Scheduled builds: `[schedule.NAME]` entries (a cron expression in an IANA time zone) fired by
 * the daemon. croner computes the next fire time (it handles DST: a local time that does not
 * exist on the spring-forward day fires at the first valid minute after it, one that exists
 * twice on the fall-back day fires once, at its first occurrence); this class owns the timers,
 * so a test drives it with a fake {@link Clock}.
 *
 * Rules:
 * - a tick that comes while the previous run started by the same schedule is still running is
 *   skipped and logged, never stacked;
 * - the last fired tick of every schedule is kept in a state file, so schedules survive restarts;
 * - ticks missed while the daemon was down are not replayed, unless the schedule has
 *   `catch_up = 1`: then the last missed one (only that one) fires at start;
 * - a timer that wakes up late (the machine slept) fires once and continues with the next tick
 *   after now: no burst of stale ticks.
 */
import { Cron } from 'croner';
import type { ScheduleEntry } from '../config/schema.js';
import { readScheduleState, writeScheduleState, type ScheduleState } from './schedule-state.js';

/** Time and timers, injectable so tests control them. */
export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): { cancel(): void };
}

/** The real clock. Timers are unref'd: a pending schedule never keeps a stopping process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A schedule entry that cannot work (bad cron, unknown time zone); the message says which and why. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/** One schedule as `GET /schedules` shows it. */
export interface ScheduleInfo {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly targets: readonly string[];
  /** Next fire time (ISO 8601), or null when stopped or the expression never fires again. */
  readonly next: string | null;
  /** The last tick that came due, whether it started a run or was skipped (a run still going). */
  readonly lastFired: string | null;
  /** A run started by this schedule has not finished yet. */
  readonly running: boolean;
}

export interface SchedulerOptions {
  readonly entries: readonly ScheduleEntry[];
  readonly clock: Clock;
  /** Where the last fire time of each schedule is kept (e.g. `<cache_dir>/schedule-state.json`). */
  readonly stateFile: string;
  /** Queues a run for the entry; `done` settles when that run has finished (either way). */
  readonly trigger: (entry: ScheduleEntry) => Promise<{ done: Promise<unknown> }>;
  readonly log: (message: string) => void;
}

// setTimeout's limit (about 24.8 days); a yearly schedule waits in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Builds the cron of an entry, or says in one line what is wrong with it. */
export function compileSchedule(entry: ScheduleEntry): Cron | ScheduleError {
  const where = `[schedule.${entry.name}]`;
  if (entry.cron.trim() === '') return new ScheduleError(`${where}: cron is empty; give an expression such as cron = "0 3 * * *" (minute hour day-of-month month day-of-week)`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: entry.timezone });
  } catch {
    return new ScheduleError(`${where}: unknown time zone "${entry.timezone}"; use an IANA name such as UTC or Europe/Berlin`);
  }
  let cron: Cron;
  try {
    cron = new Cron(entry.cron, { timezone: entry.timezone, paused: true });
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern: /, '');
    return new ScheduleError(`${where}: invalid cron expression "${entry.cron}": ${why}; use 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first`);
  }
  if (cron.nextRun() === null) return new ScheduleError(`${where}: cron expression "${entry.cron}" never fires`);
  return cron;
}

interface Slot {
  readonly entry: ScheduleEntry;
  readonly cron: Cron;
  next: number | null;
  lastFired: number | null;
  running: boolean;
  /** Settles when the run this schedule started last has finished. */
  done?: Promise<void>;
  timer?: { cancel(): void };
}

/** Fires runs for schedule entries. See the module comment for the rules. */
export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #slots: Slot[] = [];
  #state: ScheduleState = {};
  #writes: Promise<void> = Promise.resolve();
  #started = false;

  /** Throws {@link ScheduleError} naming every bad entry (one per line). */
  constructor(opts: SchedulerOptions) {
    this.#opts = opts;
    const problems: string[] = [];
    for (const entry of opts.entries) {
      const cron = compileSchedule(entry);
      if (cron instanceof ScheduleError) problems.push(cron.message);
      else this.#slots.push({ entry, cron, next: null, lastFired: null, running: false });
    }
    if (problems.length > 0) throw new ScheduleError(problems.join('\n'));
  }

  /**
   * Reads the state file, fires catch-up ticks, and arms every schedule. On a configuration
   * reload pass the scheduler being replaced (stop it first): its in-memory state is taken over
   * instead of the file (whose last write may still be in flight), a run it started still counts
   * as running for the same schedule (so the next tick is skipped, not stacked), and nothing is
   * caught up (the daemon was not down).
   */
  start(previous?: Scheduler): void {
    if (this.#started) return;
    this.#started = true;
    if (previous) {
      this.#takeOver(previous);
    } else {
      const { state, problem } = readScheduleState(this.#opts.stateFile);
      if (problem) this.#opts.log(problem);
      this.#state = state;
    }
    const now = this.#opts.clock.now();
    for (const slot of this.#slots) {
      if (previous) {
        this.#arm(slot, now);
        continue;
      }
      const state = this.#state;
      const rec = state[slot.entry.name];
      // A record of another expression says nothing about this one's ticks.
      if (rec && rec.cron === slot.entry.cron && rec.timezone === slot.entry.timezone) slot.lastFired = Date.parse(rec.lastFired);
      if (slot.entry.catch_up && slot.lastFired !== null) {
        const missed = slot.cron.previousRuns(1, new Date(now + 1))[0]?.getTime();
        if (missed !== undefined && missed > slot.lastFired) {
          this.#opts.log(`schedule "${slot.entry.name}": catching up the tick of ${new Date(missed).toISOString()} missed while stopped`);
          this.#fire(slot, missed);
        }
      }
      this.#arm(slot, now);
    }
  }

  /** Cancels every timer. Runs already started are not touched (the run queue owns them). */
  stop(): void {
    this.#started = false;
    for (const slot of this.#slots) {
      slot.timer?.cancel();
      slot.timer = undefined;
      slot.next = null;
    }
  }

  /** Every schedule with its next and last fire time. */
  list(): ScheduleInfo[] {
    return this.#slots.map((s) => ({
      name: s.entry.name,
      cron: s.entry.cron,
      timezone: s.entry.timezone,
      targets: [...s.entry.targets],
      next: s.next === null ? null : new Date(s.next).toISOString(),
      lastFired: s.lastFired === null ? null : new Date(s.lastFired).toISOString(),
      running: s.running,
    }));
  }

  /** Resolves when every state write so far has landed (for an orderly shutdown and tests). */
  flush(): Promise<void> {
    return this.#writes;
  }

  #takeOver(previous: Scheduler): void {
    this.#state = { ...previous.#state };
    this.#writes = previous.#writes;
    for (const slot of this.#slots) {
      const old = previous.#slots.find((s) => s.entry.name === slot.entry.name);
      if (!old || old.entry.cron !== slot.entry.cron || old.entry.timezone !== slot.entry.timezone) continue;
      slot.lastFired = old.lastFired;
      if (old.running && old.done) this.#track(slot, old.done);
    }
  }

  /** Marks the slot running until `done` settles. */
  #track(slot: Slot, done: Promise<void>): void {
    slot.running = true;
    slot.done = done;
    void done.then(() => {
      if (slot.done === done) slot.running = false;
    });
  }

  #arm(slot: Slot, after: number): void {
    slot.timer?.cancel();
    const next = slot.cron.nextRun(new Date(after))?.getTime() ?? null;
    slot.next = next;
    if (next === null) {
      slot.timer = undefined;
      return;
    }
    const wait = Math.max(0, next - this.#opts.clock.now());
    slot.timer = this.#opts.clock.setTimer(Math.min(wait, MAX_TIMER_MS), () => {
      if (!this.#started) return;
      const now = this.#opts.clock.now();
      if (now < next) {
        // A long wait is done in steps of at most MAX_TIMER_MS; re-arm for the same tick.
        this.#arm(slot, after);
        return;
      }
      this.#fire(slot, next);
      this.#arm(slot, Math.max(next, now));
    });
  }

  #fire(slot: Slot, tick: number): void {
    const { entry } = slot;
    const when = new Date(tick).toISOString();
    slot.lastFired = tick;
    this.#state[entry.name] = { lastFired: when, cron: entry.cron, timezone: entry.timezone };
    const snapshot = { ...this.#state };
    this.#writes = this.#writes
      .then(() => writeScheduleState(this.#opts.stateFile, snapshot))
      .catch((error: unknown) => this.#opts.log(`schedule state not saved: ${error instanceof Error ? error.message : String(error)}`));
    if (slot.running) {
      this.#opts.log(`schedule "${entry.name}": tick of ${when} skipped: the run it started before is still running`);
      return;
    }
    let finished!: () => void;
    this.#track(slot, new Promise<void>((resolve) => (finished = resolve)));
    void this.#start(slot, when).finally(finished);
  }

  /** Queues the run; resolves when it has finished (or could not be queued). */
  async #start(slot: Slot, when: string): Promise<void> {
    const { entry } = slot;
    let done: Promise<unknown>;
    try {
      ({ done } = await this.#opts.trigger(entry));
    } catch (error) {
      this.#opts.log(`schedule "${entry.name}": tick of ${when}: the run could not be queued: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.#opts.log(`schedule "${entry.name}": tick of ${when}: run queued`);
    await done.catch(() => undefined);
  }
}
