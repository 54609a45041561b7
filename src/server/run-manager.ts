/**
 * The run queues of the served workspaces and the runs the server knows. Runs wait in a FIFO
 * per workspace and start while fewer than `run_concurrency` of that workspace run; each is a
 * child process (run-child.ts) whose events are folded into its task results and fanned out
 * to SSE listeners.
 */
import { randomBytes } from 'node:crypto';
import type { RunEvent } from '../events/events.js';
import { ApiError, notFound } from './api-error.js';
import { startChildRun, type ChildRun } from './run-child.js';
import { RunHistory } from './run-history.js';
import { RunStore } from './run-store.js';
import { applyEvent, infoOf, isFinal, newRunDetail, parseEventLine, runOutcome, type RunDetail, type RunInfo, type RunRequest, type RunStatus } from './run-record.js';
import type { ServedWorkspace } from './workspaces.js';

/** The `[server]` limits of the queue and the history (reloadable). */
export interface RunLimits {
  readonly maxQueue: number;
  readonly runConcurrency: number;
  readonly historyLimit: number;
}

/** What a {@link RunManager} needs to start runs and whom it tells about them. */
export interface RunManagerOptions {
  readonly workspaces: readonly ServedWorkspace[];
  readonly limits: RunLimits;
  readonly node: string;
  readonly cli: string;
  readonly configFile?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Every event of every run, as it arrives (metrics). */
  readonly onEvent?: (workspace: string, event: RunEvent) => void;
  /** The number of queued runs of a workspace changed. */
  readonly onQueueDepth?: (workspace: string, queued: number) => void;
  /** A run ended (audit, logging). */
  readonly onFinished?: (run: RunInfo) => void;
  /** Applied to text from a run's stderr before it becomes the run's `message` (secrets). */
  readonly redact?: (text: string) => string;
  /** Problems that do not fail a request (the history could not be written). */
  readonly warn?: (message: string) => void;
}

/** Receives a run's event lines, then its end. */
export interface RunListener {
  line(text: string): void;
  end(run: RunInfo): void;
}

interface LiveRun {
  readonly detail: RunDetail;
  /** Event lines so far, for SSE replay while the run is in flight. */
  readonly lines: string[];
  readonly listeners: Set<RunListener>;
  readonly finished: Promise<void>;
  readonly resolveFinished: () => void;
  child?: ChildRun;
  cancelRequested?: string;
}

const now = (): string => new Date().toISOString();

/** The queues and runs of every served workspace. */
export class RunManager {
  readonly #opts: RunManagerOptions;
  #limits: RunLimits;
  readonly #byName = new Map<string, ServedWorkspace>();
  readonly #histories = new Map<string, RunHistory>();
  /** Every known run (details of ended ones on disk). */
  readonly #runs = new RunStore((ws) => this.#history(ws));
  readonly #live = new Map<string, LiveRun>();
  readonly #queues = new Map<string, string[]>();
  readonly #running = new Map<string, Set<string>>();
  #stopping = false;

  constructor(opts: RunManagerOptions) {
    this.#opts = opts;
    this.#limits = opts.limits;
    for (const ws of opts.workspaces) {
      this.#byName.set(ws.name, ws);
      this.#queues.set(ws.name, []);
      this.#running.set(ws.name, new Set());
      if (!this.#histories.has(ws.cacheDir)) this.#histories.set(ws.cacheDir, new RunHistory(ws.cacheDir));
    }
    for (const history of this.#histories.values()) {
      for (const run of history.loadAll(now)) this.#runs.set(infoOf(run));
    }
  }

  /** New limits (config reload); queued runs stay queued. */
  setLimits(limits: RunLimits): void {
    this.#limits = limits;
    for (const ws of this.#byName.keys()) this.#pump(ws);
  }

  #workspace(name: string): ServedWorkspace {
    const ws = this.#byName.get(name);
    if (!ws) throw notFound(`no workspace "${name}" is served`);
    return ws;
  }

  #history(ws: string): RunHistory {
    return this.#histories.get(this.#workspace(ws).cacheDir)!;
  }

  /** Queues a run. 429 when the workspace's queue is full. */
  enqueue(workspace: string, request: RunRequest, trigger: string): RunInfo {
    this.#workspace(workspace);
    if (this.#stopping) throw new ApiError(503, 'unavailable', 'the server is shutting down');
    const queue = this.#queues.get(workspace)!;
    if (queue.length >= this.#limits.maxQueue) {
      throw new ApiError(429, 'queue-full', `the run queue of workspace "${workspace}" is full (${this.#limits.maxQueue} queued); retry later`);
    }
    const detail = newRunDetail(workspace, request, trigger, new Date(), randomBytes(3).toString('hex'));
    // Recorded on disk first: a run that cannot be recorded is never queued (no ghost run that
    // keeps the workspace busy forever).
    try {
      this.#history(workspace).save(detail);
    } catch (error) {
      throw new ApiError(503, 'unavailable', `the run could not be recorded in the history of workspace "${workspace}": ${(error as NodeJS.ErrnoException).code ?? String(error)}; check that its cache directory is writable`);
    }
    let resolveFinished = (): void => undefined;
    const finished = new Promise<void>((r) => (resolveFinished = r));
    this.#runs.set(infoOf(detail));
    this.#live.set(detail.id, { detail, lines: [], listeners: new Set(), finished, resolveFinished });
    queue.push(detail.id);
    this.#opts.onQueueDepth?.(workspace, queue.length);
    this.#pump(workspace);
    this.#prune(workspace);
    return infoOf(detail);
  }

  #pump(workspace: string): void {
    const queue = this.#queues.get(workspace)!;
    const running = this.#running.get(workspace)!;
    while (!this.#stopping && queue.length > 0 && running.size < this.#limits.runConcurrency) {
      const id = queue.shift()!;
      running.add(id);
      this.#opts.onQueueDepth?.(workspace, queue.length);
      this.#start(this.#live.get(id)!);
    }
  }

  #start(live: LiveRun): void {
    const d = live.detail;
    const ws = this.#workspace(d.workspace);
    const history = this.#history(d.workspace);
    d.status = 'running';
    d.startedAt = now();
    let child: ChildRun;
    try {
      child = startChildRun({
        node: this.#opts.node,
        cli: this.#opts.cli,
        manifest: ws.manifest,
        cacheDir: ws.cacheDir,
        ...(this.#opts.configFile ? { configFile: this.#opts.configFile } : {}),
        request: d,
        env: this.#opts.env,
        ...history.files(d.id),
        onLines: (text) => this.#onLines(live, text),
      });
    } catch (error) {
      // The history directory cannot be written (disk full, permissions): the run cannot start.
      d.status = 'failed';
      d.message = `the run could not be started: ${error instanceof Error ? error.message : String(error)}`;
      this.#finish(live);
      return;
    }
    live.child = child;
    try {
      history.save(d, child.pid);
    } catch (error) {
      this.#warnHistory(d.id, error);
    }
    void child.done.then((end) => {
      // Runs in a promise callback: an exception here would be an unhandled rejection that
      // ends the daemon, so every failure becomes a warning.
      try {
        d.exitCode = end.exitCode;
        const redact = this.#opts.redact ?? ((t: string) => t);
        Object.assign(d, runOutcome({ ...end, cancelled: live.cancelRequested, stderr: () => redact(history.stderrTail(d.id)) }));
        this.#finish(live);
      } catch (error) {
        this.#opts.warn?.(`reprovm: warning: run ${d.id} did not end cleanly: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }

  #onLines(live: LiveRun, text: string): void {
    for (const line of text.split('\n')) {
      const event = parseEventLine(line);
      if (!event) continue;
      applyEvent(live.detail, event);
      live.lines.push(line);
      this.#opts.onEvent?.(live.detail.workspace, event);
      for (const l of live.listeners) l.line(line);
    }
  }

  #finish(live: LiveRun): void {
    const d = live.detail;
    d.finishedAt = now();
    const history = this.#history(d.workspace);
    try {
      history.save(d);
    } catch (error) {
      this.#warnHistory(d.id, error);
    }
    this.#running.get(d.workspace)!.delete(d.id);
    this.#live.delete(d.id);
    const info = infoOf(d);
    this.#runs.set(info, d);
    for (const l of live.listeners) l.end(info);
    live.listeners.clear();
    live.resolveFinished();
    this.#opts.onFinished?.(info);
    this.#pump(d.workspace);
    this.#prune(d.workspace);
  }

  #warnHistory(id: string, error: unknown): void {
    this.#opts.warn?.(`reprovm: warning: cannot write the history of run ${id}: ${error instanceof Error ? error.message : String(error)}`);
  }

  #prune(workspace: string): void {
    const history = this.#history(workspace);
    const mine = [...this.#runs.infos()].filter((r) => this.#byName.get(r.workspace)?.cacheDir === this.#workspace(workspace).cacheDir);
    for (const r of history.prune(mine, this.#limits.historyLimit)) this.#runs.delete(r.id);
  }

  /** Cancels a queued or running run; 409 when it has already ended. */
  cancel(id: string, why = 'cancelled by request'): RunInfo {
    const d = this.get(id);
    const live = this.#live.get(id);
    if (isFinal(d.status) || !live) throw new ApiError(409, 'conflict', `run ${id} has already ended (${d.status})`);
    if (d.status === 'queued') {
      const queue = this.#queues.get(d.workspace)!;
      const at = queue.indexOf(id);
      if (at >= 0) queue.splice(at, 1);
      this.#opts.onQueueDepth?.(d.workspace, queue.length);
      d.status = 'cancelled';
      d.message = why;
      this.#running.get(d.workspace)!.add(id); // #finish removes it
      this.#finish(live);
    } else {
      live.cancelRequested ??= why;
      live.child?.terminate();
    }
    return infoOf(d);
  }

  /** A run with its task results; 404 when unknown (or its history is gone). */
  get(id: string): RunDetail {
    const d = this.#live.get(id)?.detail ?? this.#runs.detail(id);
    if (!d) throw notFound(`no run "${id}"`);
    return d;
  }

  /** A workspace's runs, newest first. */
  list(workspace: string, status?: RunStatus): RunInfo[] {
    this.#workspace(workspace);
    return [...this.#runs.infos()]
      .map((r) => (this.#live.has(r.id) ? infoOf(this.#live.get(r.id)!.detail) : r))
      .filter((r) => r.workspace === workspace && (status === undefined || r.status === status))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** Queued and running counts of a workspace. */
  counts(workspace: string): { queued: number; running: number } {
    return { queued: this.#queues.get(workspace)?.length ?? 0, running: this.#running.get(workspace)?.size ?? 0 };
  }

  /** True while any run of a workspace using `cacheDir` is queued or running. */
  busy(cacheDir: string): boolean {
    return [...this.#live.values()].some((l) => this.#byName.get(l.detail.workspace)?.cacheDir === cacheDir);
  }

  /**
   * Streams a run's events: every line so far, then new ones as they come, then the end.
   * Returns an unsubscribe function. For an ended run, everything is delivered at once.
   */
  subscribe(id: string, listener: RunListener): () => void {
    const d = this.get(id);
    const live = this.#live.get(id);
    if (!live) {
      for (const line of this.#history(d.workspace).readEventLines(id)) listener.line(line);
      listener.end(infoOf(d));
      return () => undefined;
    }
    for (const line of live.lines) listener.line(line);
    live.listeners.add(listener);
    return () => live.listeners.delete(listener);
  }

  /** A run's event lines so far. */
  eventLines(id: string): string[] {
    const d = this.get(id);
    return this.#live.get(id)?.lines.slice() ?? this.#history(d.workspace).readEventLines(id);
  }

  /** Resolves when the run has ended (at once for ended runs). */
  whenFinished(id: string): Promise<void> {
    this.get(id);
    return this.#live.get(id)?.finished ?? Promise.resolve();
  }

  /**
   * Graceful stop: nothing new starts, queued runs are cancelled, running children get SIGTERM
   * and are waited for (they stop their tasks cleanly).
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    const waits: Promise<void>[] = [];
    for (const live of [...this.#live.values()]) {
      waits.push(live.finished);
      this.cancel(live.detail.id, 'the server was stopped');
    }
    await Promise.all(waits);
  }
}
