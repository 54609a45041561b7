/**
 * One run as a child process of the CLI: `node <cli> run --json ... <manifest> [targets]`.
 * Runs never execute in the HTTP server's process: a build that crashes or hogs the event loop
 * cannot take the API down, and cancelling is the CLI's own SIGTERM handling (running tasks
 * stopped, nothing partial cached, exit 143). The child's stdout is its NDJSON event stream.
 */
import { spawn } from 'node:child_process';
import type { RunRequest } from './run-record.js';

export interface ChildRunSpec {
  /** The node executable and the CLI entry (bin/reprovm.js). */
  readonly node: string;
  readonly cli: string;
  readonly manifest: string;
  readonly cacheDir: string;
  readonly configFile?: string;
  readonly request: RunRequest;
  readonly env: NodeJS.ProcessEnv;
  /** Called with each chunk of complete NDJSON lines, in order. */
  readonly onLines: (text: string) => void;
}

export interface ChildRun {
  readonly pid: number | null;
  /** Asks the child to stop (SIGTERM: its tasks get SIGTERM, then SIGKILL after the grace). */
  terminate(): void;
  /** The child's end: exit code (null when killed by a signal) and the tail of its stderr. */
  readonly done: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const STDERR_KEEP = 8192;

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

/** Starts the child. */
export function startChildRun(spec: ChildRunSpec): ChildRun {
  const child = spawn(spec.node, childArgs(spec), {
    cwd: undefined,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const text = partial + chunk;
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      partial = text;
      return;
    }
    partial = text.slice(cut + 1);
    spec.onLines(text.slice(0, cut + 1));
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  const done = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('error', (error) => {
      stderr += `\n${error.message}`;
    });
    child.on('close', (exitCode, signal) => {
      if (partial !== '') spec.onLines(`${partial}\n`);
      resolve({ exitCode, signal, stderr });
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
