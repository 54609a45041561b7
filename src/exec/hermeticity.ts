import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import path from 'node:path';
import type { EventBus } from '../events/bus.js';
import { eventTime, type HermeticityFinding, type TaskFailure } from '../events/events.js';

/*
 * `run --strict`: a cheap hermeticity check. Right before a task's command starts and right after
 * it ends, the workspace tree is stat-walked (path → kind, size, mtime ns, inode; no hashing),
 * skipping `.reprovm`, `.git`, the cache directory and the declared outputs of every task. Every
 * path created, modified or deleted in between that the task does not declare is a finding, unless
 * another task running in the same window declares it. A declared output that is also one of the
 * task's inputs is a finding too.
 *
 * Snapshots are shared: a snapshot can serve as a task's "before" as long as no command has ended
 * since it was taken (commands that started since are still running, so they count as concurrent
 * with the task anyway), and every task whose exit was seen before an "after" snapshot is taken
 * shares it (one walk per batch of exits). Only commands change the walked tree: reprovm itself
 * writes only under `.reprovm`, the cache directory and declared outputs, which are not walked.
 */

/** `--strict=warn` reports findings as warnings; `--strict=error` also fails the task. */
export type StrictMode = 'warn' | 'error';

/** Directories never walked (cache and VCS state), at any depth, as in input expansion. */
const SKIP_DIRS = new Set(['.reprovm', '.git']);

/** A stat snapshot: workspace-relative path → `kind:size:mtimeNs:ino` (`d` for directories). */
export type Snapshot = ReadonlyMap<string, string>;

/** One path that changed between two snapshots. */
export interface SnapshotChange {
  readonly path: string;
  readonly change: 'created' | 'modified' | 'deleted';
}

/**
 * Takes stat snapshots of a workspace. `ignored` paths (and everything below them) are not
 * walked; their ancestor directories are walked but not recorded themselves, so creating a
 * declared output's parent directory is never a finding.
 */
export class WorkspaceSnapshotter {
  readonly #workspace: string;
  readonly #ignored: ReadonlySet<string>;
  readonly #ancestors: ReadonlySet<string>;

  constructor(workspace: string, ignored: Iterable<string>) {
    this.#workspace = workspace;
    const set = new Set<string>();
    const ancestors = new Set<string>();
    for (const p of ignored) {
      set.add(p);
      for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) ancestors.add(p.slice(0, i));
    }
    this.#ignored = set;
    this.#ancestors = ancestors;
  }

  /** Walks the workspace synchronously (a few µs per entry; no file is read). */
  take(): Snapshot {
    const out = new Map<string, string>();
    this.#walk(this.#workspace, '', out);
    return out;
  }

  #walk(abs: string, rel: string, out: Map<string, string>): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return; // removed while walking: its parent's entry records that
    }
    for (const entry of entries) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (this.#ignored.has(childRel)) continue;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) {
        if (SKIP_DIRS.has(entry.name)) continue;
        if (!this.#ancestors.has(childRel)) out.set(childRel, 'd');
        this.#walk(childAbs, childRel, out);
        continue;
      }
      const st = lstatSync(childAbs, { bigint: true, throwIfNoEntry: false });
      if (st === undefined) continue;
      const kind = st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
      out.set(childRel, `${kind}:${st.size}:${st.mtimeNs}:${st.ino}`);
    }
  }
}

/**
 * What changed from `before` to `after`, sorted by path. Below a created or deleted directory
 * only the directory is reported, not each path inside it.
 */
export function diffSnapshots(before: Snapshot, after: Snapshot): SnapshotChange[] {
  const changes: SnapshotChange[] = [];
  for (const [p, sig] of after) {
    const old = before.get(p);
    if (old === undefined) changes.push({ path: p, change: 'created' });
    else if (old !== sig) changes.push({ path: p, change: 'modified' });
  }
  for (const p of before.keys()) if (!after.has(p)) changes.push({ path: p, change: 'deleted' });
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const wholeDirs = new Set<string>();
  return changes.filter((c) => {
    for (let i = c.path.lastIndexOf('/'); i > 0; i = c.path.lastIndexOf('/', i - 1)) {
      if (wholeDirs.has(c.path.slice(0, i))) return false;
    }
    const sig = c.change === 'created' ? after.get(c.path) : c.change === 'deleted' ? before.get(c.path) : undefined;
    if (sig === 'd') wholeDirs.add(c.path);
    return true;
  });
}

/** True if `p` is one of `roots` or lies inside one of them. */
export function isUnder(p: string, roots: readonly string[]): boolean {
  return roots.some((r) => p === r || p.startsWith(`${r}/`));
}

/**
 * The declared outputs that are also inputs of the same task: an output that is one of the
 * expanded input files, contains one (an output directory), or lies inside a declared input
 * directory (`declaredInputs` are the manifest values; globs are covered by `inputFiles`).
 */
export function outputsThatAreInputs(outputs: readonly string[], inputFiles: readonly string[], declaredInputs: readonly string[]): string[] {
  return outputs.filter((o) => inputFiles.some((i) => isUnder(i, [o])) || isUnder(o, declaredInputs));
}

/** What the monitor needs to know about the run. */
export interface HermeticityOptions {
  readonly workspace: string;
  readonly mode: StrictMode;
  /** Workspace-relative paths never walked: every task's declared outputs, an in-workspace cache dir. */
  readonly ignored: Iterable<string>;
  /** A task's declared outputs. */
  readonly outputsOf: (task: string) => readonly string[];
  readonly bus: EventBus;
}

interface Taken {
  readonly tick: number;
  readonly snapshot: Snapshot;
}

interface Running {
  readonly task: string;
  readonly start: number;
  /** Tick of the task's "before" snapshot: the start of its window. */
  readonly windowStart: number;
  /** Tick at which its command was seen to end; undefined while it runs. */
  end?: number;
}

/** One task's observation window, from {@link HermeticityMonitor.begin}. */
export interface TaskWindow {
  /**
   * Ends the window after the command succeeded: reports every finding as a `warning` event and,
   * with `--strict=error`, returns the failure to fail the task with.
   */
  finish(inputFiles: readonly string[], declaredInputs: readonly string[]): Promise<TaskFailure | undefined>;
  /** Ends the window without checking (the command failed or was interrupted); idempotent. */
  close(): void;
}

/** Watches the workspace around every command of a `--strict` run. One per run. */
export class HermeticityMonitor {
  readonly #o: HermeticityOptions;
  readonly #snapshotter: WorkspaceSnapshotter;
  #tick = 0;
  #lastEnd = 0;
  #latest: Taken | undefined;
  #pendingAfter: Promise<Taken> | undefined;
  readonly #active = new Set<Running>();
  /** Windows that ended, kept while an active window may overlap them. */
  #finished: Running[] = [];

  constructor(opts: HermeticityOptions) {
    this.#o = opts;
    this.#snapshotter = new WorkspaceSnapshotter(opts.workspace, opts.ignored);
  }

  /** Opens a task's window; call right before its command starts (synchronously). */
  begin(task: string): TaskWindow {
    const latest = this.#latest;
    const before = latest && latest.tick > this.#lastEnd ? latest : this.#take();
    const running: Running = { task, start: ++this.#tick, windowStart: before.tick };
    this.#active.add(running);
    let closed = false;
    return {
      finish: async (inputFiles, declaredInputs) => {
        if (closed) return undefined;
        closed = true;
        this.#lastEnd = running.end = ++this.#tick;
        const after = await this.#after();
        const failure = this.#check(running, before.snapshot, after, inputFiles, declaredInputs);
        this.#retire(running);
        return failure;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.#lastEnd = running.end = ++this.#tick;
        this.#retire(running);
      },
    };
  }

  #take(): Taken {
    const taken = { tick: ++this.#tick, snapshot: this.#snapshotter.take() };
    this.#latest = taken;
    return taken;
  }

  /** One walk for every task whose exit was seen before it: taken on the next turn of the loop. */
  #after(): Promise<Taken> {
    if (!this.#pendingAfter) {
      this.#pendingAfter = new Promise((resolve) =>
        setImmediate(() => {
          this.#pendingAfter = undefined;
          resolve(this.#take());
        }),
      );
    }
    return this.#pendingAfter;
  }

  #retire(running: Running): void {
    this.#active.delete(running);
    this.#finished.push(running);
    let oldest = Infinity;
    for (const r of this.#active) oldest = Math.min(oldest, r.windowStart);
    this.#finished = this.#finished.filter((r) => (r.end ?? Infinity) > oldest);
  }

  #check(running: Running, before: Snapshot, after: Taken, inputFiles: readonly string[], declaredInputs: readonly string[]): TaskFailure | undefined {
    const task = running.task;
    const own = this.#o.outputsOf(task);
    const findings: { message: string; finding: HermeticityFinding }[] = [];
    for (const o of outputsThatAreInputs(own, inputFiles, declaredInputs)) {
      findings.push({ message: `task "${task}" modifies its own input "${o}"`, finding: { kind: 'output-is-input', path: o } });
    }
    const changes = diffSnapshots(before, after.snapshot).filter((c) => !isUnder(c.path, own));
    if (changes.length > 0) {
      // Every other task whose command ran at some point between the two snapshots.
      const others = [...this.#active, ...this.#finished].filter(
        (r) => r !== running && r.start < after.tick && (r.end === undefined || r.end > running.windowStart),
      );
      const names = [...new Set(others.map((r) => r.task))].sort();
      const suffix = names.length > 0 ? ` (while ${names.map((n) => `"${n}"`).join(', ')} also ran)` : '';
      for (const c of changes) {
        if (others.some((r) => isUnder(c.path, this.#o.outputsOf(r.task)))) continue;
        const verb = c.change === 'deleted' ? 'deleted' : 'wrote';
        findings.push({
          message: `task "${task}" ${verb} "${c.path}" which is not a declared output${suffix}`,
          finding: { kind: c.change === 'deleted' ? 'undeclared-delete' : 'undeclared-write', path: c.path },
        });
      }
    }
    for (const f of findings) {
      this.#o.bus.emit({ type: 'warning', time: eventTime(), task, message: f.message, hermeticity: f.finding });
    }
    const first = findings[0];
    if (this.#o.mode !== 'error' || first === undefined) return undefined;
    const more = findings.length > 1 ? ` (+${findings.length - 1} more)` : '';
    return { reason: 'hermeticity', message: `${first.message}${more}` };
  }
}

/**
 * The paths a `--strict` run never walks, workspace-relative: the declared outputs of all tasks
 * and the cache directory when it lies inside the workspace (outside `.reprovm`).
 */
export function ignoredPaths(workspace: string, outputs: Iterable<string>, cacheDir: string): string[] {
  const out = [...outputs];
  const rel = path.relative(workspace, cacheDir).split(path.sep).join('/');
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) out.push(rel);
  return out;
}
