/**
 * Timing of child processes: wall time, exit status and peak resident memory.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`), which reads the rusage of the process
 * it waits for. Every command is wrapped the same way (reprovm, make, ninja, `node -e 0`), so
 * the wrapper's own fork/exec (well under a millisecond) is paid equally by all of them.
 * Without /usr/bin/time, the command runs unwrapped and its VmHWM is polled from /proc: the
 * figure is then a lower bound (the last poll before exit), and it is flagged as such.
 *
 * Children are started in their own process group and tracked, so an interrupted benchmark
 * can stop everything it started (see {@link killActiveChildren}).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export interface Sample {
  /** Wall time from spawn to exit, in milliseconds. */
  readonly ms: number;
  /** Peak resident set size in KiB, if it could be measured. */
  readonly maxRssKb: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  /** Capture stdout (otherwise it goes to /dev/null). */
  readonly captureStdout?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export const GNU_TIME = '/usr/bin/time';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const haveGnuTime: boolean = executable(GNU_TIME);

/** Absolute path of `cmd` on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const p = path.join(dir, cmd);
    if (executable(p)) return p;
  }
  return undefined;
}

const active = new Set<number>();

/** Signal every running child's process group (for interruption). */
export function killActiveChildren(signal: NodeJS.Signals): void {
  for (const pid of active) {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }
}

export function activeChildCount(): number {
  return active.size;
}

/** Environment for the tools: the caller's, minus make's own variables (npm could be run from make). */
export function toolEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'GNUMAKEFLAGS']) delete env[k];
  return env;
}

let rssFileSeq = 0;
let rssDir: string | undefined;

/** Where GNU time writes its reports (must exist; outside every workspace). */
export function setScratchDir(dir: string): void {
  rssDir = dir;
}

/** Runs `cmd args` to completion and measures it. Never rejects for a failing command. */
export function runTimed(cmd: string, args: readonly string[], opts: RunOptions): Promise<Sample> {
  const rssFile = haveGnuTime ? path.join(rssDir ?? opts.cwd, `rss-${process.pid}-${rssFileSeq++}`) : undefined;
  const argv = rssFile === undefined ? [cmd, ...args] : [GNU_TIME, '-f', '%M', '-o', rssFile, cmd, ...args];
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? toolEnv(),
      detached: true,
      stdio: ['ignore', opts.captureStdout === true ? 'pipe' : 'ignore', 'pipe'],
    });
    const pid = child.pid;
    if (pid !== undefined) active.add(pid);
    let out = '';
    let errText = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (errText.length < 64 * 1024) errText += s;
    });
    let polledKb: number | undefined;
    const poll =
      rssFile === undefined && pid !== undefined
        ? setInterval(() => {
            const kb = readHwmKb(pid);
            if (kb !== undefined) polledKb = Math.max(polledKb ?? 0, kb);
          }, 10)
        : undefined;
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      if (poll !== undefined) clearInterval(poll);
      if (pid !== undefined) active.delete(pid);
      let maxRssKb = polledKb;
      if (rssFile !== undefined) {
        maxRssKb = parseGnuTime(rssFile);
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, maxRssKb, code, signal, stdout: out, stderr: spawnError ?? errText });
    });
  });
}

function parseGnuTime(file: string): number | undefined {
  try {
    // On a non-zero exit, GNU time writes "Command exited with non-zero status N" first.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const n = Number(lines.at(-1));
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readHwmKb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Throws with the command's stderr if the sample is not a clean exit. */
export function assertOk(s: Sample, what: string): Sample {
  if (s.code !== 0) {
    const tail = s.stderr.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed (exit ${s.code ?? s.signal ?? '?'}):\n${tail}`);
  }
  return s;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
