import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The built CLI: integration tests run exactly what users run. */
export const CLI = fileURLToPath(new URL('../../bin/reprovm.js', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOpts {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

/**
 * For tests about objects in the store (corruption, gc, backups, object counts): every output
 * and log becomes an object instead of being kept inline in its action record.
 */
export const OBJECTS_ONLY: NodeJS.ProcessEnv = { REPROVM_CACHE_INLINE_MAX_BYTES: '0' };

/**
 * A temp workspace plus the real CLI. Every test gets its own directory, removed by
 * `cleanup()`; nothing is written outside it.
 */
export class Rig {
  readonly dir: string;
  /** Environment every run of this rig gets (a run's own `env` wins). */
  readonly env: NodeJS.ProcessEnv;

  constructor(prefix = 'reprovm-test-', opts: { readonly env?: NodeJS.ProcessEnv } = {}) {
    this.dir = mkdtempSync(path.join(tmpdir(), prefix));
    this.env = opts.env ?? {};
  }

  path(rel: string): string {
    return path.join(this.dir, rel);
  }

  write(files: Record<string, string>): void {
    for (const [rel, content] of Object.entries(files)) {
      const p = this.path(rel);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
  }

  writeExecutable(rel: string, content: string): void {
    this.write({ [rel]: content });
    chmodSync(this.path(rel), 0o755);
  }

  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }

  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }

  /** Runs the CLI to completion. */
  run(args: readonly string[], opts: RunOpts = {}): Promise<RunResult> {
    const child = this.spawn(args, opts);
    return collect(child, opts.timeoutMs ?? 60_000);
  }

  /** Starts the CLI and returns the process (for signals); use `collect` to wait. */
  spawn(args: readonly string[], opts: RunOpts = {}): ChildProcess {
    return spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? this.dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', REPROVM_RETRY_BACKOFF_MS: '10', ...this.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A maker of rigs that are all removed when the test file ends. Call it at the top level of a
 * test file: `const newRig = rigsRemovedAfter('reprovm-health-');`.
 */
export function rigsRemovedAfter(prefix: string, opts: { readonly env?: NodeJS.ProcessEnv } = {}): () => Rig {
  const rigs: Rig[] = [];
  after(() => {
    for (const r of rigs) r.cleanup();
  });
  return () => {
    const r = new Rig(prefix, opts);
    rigs.push(r);
    return r;
  };
}

export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Parses `--json` output into events. */
export function events(stdout: string): Array<Record<string, unknown> & { type: string }> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });
}

/** task name → status from a `--json` run. */
export function statuses(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events(stdout)) if (e.type === 'task-finished') out[e.task as string] = e.status as string;
  return out;
}

/** Polls until `check` is true (marker files written by tasks), without fixed sleeps. */
export async function waitFor(check: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const HELLO_MANIFEST = `task build {
  cmd = gcc -o hello hello.c
  inputs = hello.c
  outputs = hello
  deps =
}

task test {
  cmd = ./hello > test_output.txt
  inputs = hello
  outputs = test_output.txt
  deps = build
}

task checksum {
  cmd = sha256sum hello test_output.txt > checksums.txt
  inputs = hello test_output.txt
  outputs = checksums.txt
  deps = build test
}
`;

export const HELLO_C = '#include <stdio.h>\nint main(void) { printf("hello\\n"); return 0; }\n';
