import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import { writeReport } from './write-report.js';

/** One event of the Chrome trace-event format (the subset written here). */
export interface TraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'M';
  readonly pid: number;
  readonly tid: number;
  readonly ts?: number;
  readonly dur?: number;
  readonly cat?: string;
  readonly args?: Readonly<Record<string, unknown>>;
}

const PID = 1;
const RUN_TID = 0;
/** Cache lanes come after every worker lane. */
const CACHE_TID_BASE = 1000;

/**
 * `--profile FILE`: the run as a Chrome trace (`{"traceEvents": [...]}`), for chrome://tracing
 * or https://ui.perfetto.dev, written atomically when the run ends.
 *
 * Lanes (threads of pid 1): `run` spans the whole run; `worker N` lanes hold commands — a task
 * takes the lowest free worker lane at its first `task-started` and frees it at
 * `task-finished`, so there are never more worker lanes than `-j`; `cache N` lanes hold tasks
 * that finished without running a command (cache hits, failures before the start), each on
 * the lowest cache lane that is free for its whole span.
 *
 * Times come from the events, so the trace is a pure function of the stream: `ts` is µs since
 * `run-started`. A task's complete ("X") event lasts exactly its `durationMs`: on a worker
 * lane it starts at the last attempt's `task-started`, on a cache lane it ends at
 * `task-finished`; it is moved later only if it would overlap the lane's previous event, so a
 * lane's events never overlap. Failed attempts before a retry are drawn too (category
 * `attempt`). Skipped tasks did nothing and are not drawn.
 */
export class ProfileReporter implements Reporter {
  readonly #file: string;
  #origin = 0;
  #last = 0;
  #runId = '';
  readonly #spans: TraceEvent[] = [];
  /** Worker lane (index + 1 = tid) → task holding it. */
  readonly #workers: (string | undefined)[] = [];
  readonly #workerEnd: number[] = [];
  readonly #cacheEnd: number[] = [];
  readonly #running = new Map<string, { lane: number; attemptStart: number; attempt: number }>();
  #json: string | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-started':
        this.#origin = Date.parse(e.time);
        this.#runId = e.runId;
        break;
      case 'task-started':
        this.#started(e.task, e.attempt, this.#micros(e.time));
        break;
      case 'task-retry':
        this.#retry(e.task, e.attempt, this.#micros(e.time));
        break;
      case 'task-finished':
        if (e.status !== 'skipped') this.#finished(e, this.#micros(e.time));
        break;
      case 'run-finished':
        this.#json = this.#document(e.summary.wallMs * 1000, e.exitCode);
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    if (this.#json !== undefined) await writeReport(this.#file, this.#json);
  }

  /** µs since run start; never earlier than the previous event (the wall clock may step back). */
  #micros(time: string): number {
    this.#last = Math.max(this.#last, Math.round((Date.parse(time) - this.#origin) * 1000));
    return this.#last;
  }

  #started(task: string, attempt: number, now: number): void {
    const held = this.#running.get(task);
    if (held) {
      this.#running.set(task, { ...held, attemptStart: now, attempt });
      return;
    }
    let lane = this.#workers.indexOf(undefined);
    if (lane < 0) lane = this.#workers.push(undefined) - 1;
    this.#workers[lane] = task;
    this.#workerEnd[lane] ??= 0;
    this.#running.set(task, { lane, attemptStart: now, attempt });
  }

  #retry(task: string, attempt: number, now: number): void {
    const held = this.#running.get(task);
    if (!held) return;
    const ts = Math.max(held.attemptStart, this.#workerEnd[held.lane] ?? 0);
    const dur = Math.max(0, now - ts);
    this.#spans.push({ name: task, cat: 'attempt', ph: 'X', pid: PID, tid: held.lane + 1, ts, dur, args: { attempt, status: 'failed, retried' } });
    this.#workerEnd[held.lane] = ts + dur;
  }

  #finished(e: Extract<RunEvent, { type: 'task-finished' }>, now: number): void {
    const dur = e.durationMs * 1000;
    const args: Record<string, unknown> = { status: e.status, durationMs: e.durationMs };
    if (e.key !== undefined) args.key = e.key;
    if (e.cache?.result === 'hit') Object.assign(args, { upToDate: e.cache.upToDate, savedMs: e.cache.savedMs });
    if (e.cache?.result === 'miss') args.missReason = e.cache.reason;
    if (e.failure) args.failure = e.failure.message;
    const held = this.#running.get(e.task);
    if (held) {
      this.#running.delete(e.task);
      this.#workers[held.lane] = undefined;
      // The command starts right after task-started, so that is where its span begins.
      const ts = Math.max(held.attemptStart, this.#workerEnd[held.lane] ?? 0);
      this.#workerEnd[held.lane] = ts + dur;
      this.#spans.push({ name: e.task, cat: e.status, ph: 'X', pid: PID, tid: held.lane + 1, ts, dur, args: { ...args, attempts: held.attempt } });
      return;
    }
    // No command ran: a cache lane free for the whole span (spans end in arrival order, so a
    // lane whose last span ended before this one starts is free).
    const ts = Math.max(0, now - dur);
    let lane = this.#cacheEnd.findIndex((end) => end <= ts);
    if (lane < 0) lane = this.#cacheEnd.push(0) - 1;
    this.#cacheEnd[lane] = ts + dur;
    this.#spans.push({ name: e.task, cat: e.status, ph: 'X', pid: PID, tid: CACHE_TID_BASE + lane + 1, ts, dur, args });
  }

  #document(wallUs: number, exitCode: number): string {
    const meta: TraceEvent[] = [{ name: 'process_name', ph: 'M', pid: PID, tid: RUN_TID, args: { name: 'reprovm' } }];
    const lane = (tid: number, name: string): void => {
      meta.push({ name: 'thread_name', ph: 'M', pid: PID, tid, args: { name } });
      meta.push({ name: 'thread_sort_index', ph: 'M', pid: PID, tid, args: { sort_index: tid } });
    };
    lane(RUN_TID, 'run');
    this.#workers.forEach((_, i) => lane(i + 1, `worker ${i + 1}`));
    this.#cacheEnd.forEach((_, i) => lane(CACHE_TID_BASE + i + 1, `cache ${i + 1}`));
    const run: TraceEvent = { name: 'run', cat: 'run', ph: 'X', pid: PID, tid: RUN_TID, ts: 0, dur: wallUs, args: { runId: this.#runId, exitCode } };
    const spans = [run, ...this.#spans].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
    const events = [...meta, ...spans].map((ev) => JSON.stringify(ev));
    // One event per line: diffable, and still one JSON document.
    return `{"displayTimeUnit":"ms","otherData":${JSON.stringify({ runId: this.#runId })},"traceEvents":[\n${events.join(',\n')}\n]}\n`;
  }
}
