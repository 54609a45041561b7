/**
 * Run history on disk, so `GET /runs` survives a restart of the daemon.
 *
 * Layout: `<cache_dir>/runs/<run id>/`
 * - `summary.json`: `{"version": 1, "run": RunDetail, "childPid": number | null}`, rewritten
 *   whole (temp file + fsync + rename) whenever the run's status changes, so a reader sees the
 *   old or the new version, never a mix. A missing, torn or foreign-version file makes the run
 *   invisible (it is skipped, not repaired).
 * - `events.ndjson`: the run's events exactly as its child printed them (`run --json`): the
 *   child's stdout is this file. A kill can tear the last line; readers skip lines that do not
 *   parse.
 * - `stderr.log`: the child's stderr (why a run failed before its tasks ran).
 *
 * Run ids sort by creation time, so pruning to `[server] history_limit` removes the oldest
 * finished runs by name. A run found `queued` or `running` when the daemon starts was in
 * flight when it died: it becomes `aborted` (its task results are rebuilt from its events),
 * and its child, if still alive, is sent SIGTERM so it stops its tasks cleanly.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../util/atomic-write.js';
import { isProcessAlive } from '../util/process.js';
import { applyEvent, isFinal, parseEventLine, type RunDetail } from './run-record.js';

const VERSION = 1;
const ID = /^[A-Za-z0-9-]{1,64}$/;

interface SummaryFile {
  readonly version: number;
  readonly run: RunDetail;
  readonly childPid: number | null;
}

/** The runs of one cache directory. */
export class RunHistory {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = path.join(cacheDir, 'runs');
  }

  #runDir(id: string): string {
    if (!ID.test(id)) throw new Error(`Internal error: bad run id ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  /** Writes a run's summary (creating its directory). */
  save(run: RunDetail, childPid: number | null = null): void {
    const dir = this.#runDir(run.id);
    mkdirSync(dir, { recursive: true });
    const data: SummaryFile = { version: VERSION, run, childPid };
    writeFileAtomicSync(path.join(dir, 'summary.json'), `${JSON.stringify(data)}\n`);
  }

  /** The files a run's child writes: its events (stdout) and its stderr. */
  files(id: string): { eventsFile: string; stderrFile: string } {
    const dir = this.#runDir(id);
    mkdirSync(dir, { recursive: true });
    return { eventsFile: path.join(dir, 'events.ndjson'), stderrFile: path.join(dir, 'stderr.log') };
  }

  /** The last `bytes` of a run's stderr ('' when there is none). */
  stderrTail(id: string, bytes = 8192): string {
    try {
      const text = readFileSync(path.join(this.#runDir(id), 'stderr.log'));
      return text.subarray(Math.max(0, text.length - bytes)).toString('utf8');
    } catch {
      return '';
    }
  }

  /** A run's event lines (complete JSON lines only). */
  readEventLines(id: string): string[] {
    let text: string;
    try {
      text = readFileSync(path.join(this.#runDir(id), 'events.ndjson'), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => parseEventLine(l) !== undefined);
  }

  /**
   * Every readable run, oldest first. Runs left in flight by a previous daemon are marked
   * aborted (and their children stopped) on the way.
   */
  loadAll(now: () => string): RunDetail[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => ID.test(n)).sort();
    } catch {
      return [];
    }
    const runs: RunDetail[] = [];
    for (const name of names) {
      const file = this.#read(name);
      if (!file) continue;
      const run = file.run;
      if (!isFinal(run.status)) this.#abort(run, file.childPid, now());
      runs.push(run);
    }
    return runs;
  }

  /** One run's detail from disk; undefined when missing or unreadable. */
  read(id: string): RunDetail | undefined {
    return ID.test(id) ? this.#read(id)?.run : undefined;
  }

  #read(id: string): SummaryFile | undefined {
    try {
      const data = JSON.parse(readFileSync(path.join(this.dir, id, 'summary.json'), 'utf8')) as Partial<SummaryFile>;
      if (data.version !== VERSION || typeof data.run !== 'object' || data.run === null || data.run.id !== id) return undefined;
      return { version: VERSION, run: data.run, childPid: typeof data.childPid === 'number' ? data.childPid : null };
    } catch {
      return undefined;
    }
  }

  #abort(run: RunDetail, childPid: number | null, at: string): void {
    // The results are what the run did while the daemon lived: read before the child is told to
    // stop, so the interruptions it reports on SIGTERM never race into them.
    run.tasks = [];
    run.summary = null;
    for (const line of this.readEventLines(run.id)) {
      const e = parseEventLine(line);
      if (e) applyEvent(run, e);
    }
    if (childPid !== null && isReprovmRun(childPid)) {
      try {
        process.kill(childPid, 'SIGTERM');
      } catch {
        // Gone in between.
      }
    }
    run.status = 'aborted';
    run.finishedAt = at;
    run.message = 'the server stopped while this run was in flight';
    this.save(run);
  }

  /** Removes the oldest finished runs beyond `keep` (runs in flight are never removed). */
  prune<R extends { readonly id: string; readonly status: RunDetail['status'] }>(runs: readonly R[], keep: number): R[] {
    const finished = runs.filter((r) => isFinal(r.status)).sort((a, b) => (a.id < b.id ? -1 : 1));
    const drop = finished.slice(0, Math.max(0, finished.length - keep));
    for (const r of drop) rmSync(path.join(this.dir, r.id), { recursive: true, force: true });
    return drop;
  }
}

/** True if `pid` is alive and is a `reprovm run --json` (not a recycled pid of something else). */
function isReprovmRun(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('run') && argv.includes('--json') && argv.some((a) => a.includes('reprovm'));
  } catch {
    return false;
  }
}
