/**
 * One run as a child process of the CLI: `node <cli> run --json ... <manifest> [targets]`.
 * Runs never execute in the HTTP server's process: a build that crashes or hogs the event loop
 * cannot take the API down, and cancelling is the CLI's own SIGTERM handling (running tasks
 * stopped, nothing partial cached, exit 143).
 *
 * The child's stdout (its NDJSON event stream) and stderr go straight into files of the run's
 * history directory, and the server follows the events file (inotify, with a polling fallback).
 * Not a pipe: a server that dies must not take its runs with it through a broken pipe (the
 * CLI would crash on its next event and leave its task processes behind); the run goes on
 * writing its history, and a restarted server stops it cleanly.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, watch, type FSWatcher } from 'node:fs';
import type { RunRequest } from './run-record.js';

/** How to start one run child. */
export interface ChildRunSpec {
  /** The node executable and the CLI entry (bin/reprovm.js). */
  readonly node: string;
  readonly cli: string;
  readonly manifest: string;
  readonly cacheDir: string;
  readonly configFile?: string;
  readonly request: RunRequest;
  readonly env: NodeJS.ProcessEnv;
  /** The child's stdout is appended here, and followed. */
  readonly eventsFile: string;
  /** The child's stderr is appended here. */
  readonly stderrFile: string;
  /** Called with each chunk of complete NDJSON lines (ending in "\n"), in order. */
  readonly onLines: (text: string) => void;
}

/** A started run child. */
export interface ChildRun {
  readonly pid: number | null;
  /** Asks the child to stop (SIGTERM: its tasks get SIGTERM, then SIGKILL after the grace). */
  terminate(): void;
  /** The child's end, after its last event was delivered: exit code (null when killed by a signal). */
  readonly done: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; error?: string }>;
}

// inotify delivers changes at once; the poll only covers file systems where it does not.
const POLL_MS = 250;
const READ_CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/** The child's argument list (after the node executable). */
export function childArgs(spec: Pick<ChildRunSpec, 'cli' | 'manifest' | 'cacheDir' | 'configFile' | 'request'>): string[] {
  const r = spec.request;
  return [
    spec.cli,
    'run',
    '--json',
    '--no-color',
    ...(spec.configFile ? ['--config', spec.configFile] : []),
    '--cache-dir',
    spec.cacheDir,
    ...(r.force ? ['--force'] : []),
    ...(r.keepGoing ? ['--keep-going'] : []),
    ...(r.jobs !== null ? ['--jobs', String(r.jobs)] : []),
    spec.manifest,
    ...r.targets,
  ];
}

/** Follows a growing file from its current end, handing out complete lines. */
class FileFollower {
  readonly #fd: number;
  readonly #onLines: (text: string) => void;
  #pos: number;
  #pending: Buffer = Buffer.alloc(0);
  readonly #timer: NodeJS.Timeout;
  readonly #watcher: FSWatcher | undefined;

  constructor(file: string, onLines: (text: string) => void) {
    this.#fd = openSync(file, 'r');
    this.#pos = fstatSync(this.#fd).size;
    this.#onLines = onLines;
    this.#timer = setInterval(() => this.poll(), POLL_MS);
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(file, () => this.poll());
    } catch {
      // No inotify here: the timer alone follows the file.
    }
    this.#watcher = watcher;
  }

  /** Reads what was appended since the last call. */
  poll(): void {
    const chunks: Buffer[] = [this.#pending];
    for (;;) {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      const n = readSync(this.#fd, buf, 0, READ_CHUNK, this.#pos);
      if (n <= 0) break;
      this.#pos += n;
      chunks.push(buf.subarray(0, n));
    }
    const all = Buffer.concat(chunks);
    const cut = all.lastIndexOf(NEWLINE);
    if (cut < 0) {
      this.#pending = all;
      return;
    }
    this.#pending = Buffer.from(all.subarray(cut + 1));
    this.#onLines(all.subarray(0, cut + 1).toString('utf8'));
  }

  /** Reads the rest (a last line without newline included) and stops. */
  close(): void {
    this.poll();
    if (this.#pending.length > 0) this.#onLines(`${this.#pending.toString('utf8')}\n`);
    clearInterval(this.#timer);
    this.#watcher?.close();
    closeSync(this.#fd);
  }
}

/** Starts the child. */
export function startChildRun(spec: ChildRunSpec): ChildRun {
  const out = openSync(spec.eventsFile, 'a');
  const err = openSync(spec.stderrFile, 'a');
  const follower = new FileFollower(spec.eventsFile, spec.onLines);
  let child;
  try {
    child = spawn(spec.node, childArgs(spec), { env: spec.env, stdio: ['ignore', out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  let spawnError: string | undefined;
  const done = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.on('error', (error) => {
      spawnError = error.message;
    });
    child.on('close', (exitCode, signal) => {
      follower.close();
      resolve({ exitCode, signal, ...(spawnError !== undefined ? { error: spawnError } : {}) });
    });
  });
  return {
    pid: child.pid ?? null,
    terminate: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    done,
  };
}
