import { constants as osConstants } from 'node:os';
import { openCaptureFiles } from './spawn-capture-files.js';
import { launch, type Launched } from './spawn-launch.js';
import { NODE_SPAWNER, type Spawner } from './spawn-select.js';

/** What one execution of a task's command produced. */
export interface ProcessResult {
  /** The command's exit code (not the raw wait status); null when killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** Stopped because the run was interrupted (SIGINT/SIGTERM to reprovm). */
  readonly interrupted: boolean;
  readonly spawnError?: string;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** True when output beyond `maxCaptureBytes` was dropped (the head is kept). */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** Which spawner started it: `native` (posix_spawn addon) or `node` (child_process). */
  readonly spawnedBy: Spawner['kind'];
}

export interface RunCommandOptions {
  readonly cmd: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number | undefined;
  /** Aborting stops the process group: SIGTERM, then SIGKILL after `killGraceMs`. */
  readonly signal?: AbortSignal | undefined;
  readonly killGraceMs?: number;
  readonly maxCaptureBytes?: number;
  /** Called for every complete line (and a final unterminated one), for live output. */
  readonly onLine?: ((stream: 'stdout' | 'stderr', line: string) => void) | undefined;
  /**
   * When set and nobody wants live lines (`onLine` absent), stdout and stderr go to temp files
   * in this directory instead of pipes: no pipe, socket or stream objects per task, which is a
   * large part of the cost of spawning thousands of short commands.
   */
  readonly captureDir?: string | undefined;
}

const DEFAULT_GRACE_MS = 5000;
const DEFAULT_MAX_CAPTURE = 64 * 1024 * 1024;
/** After the shell exits, how long to wait for pipes held open by stray background children. */
const PIPE_DRAIN_MS = 2000;

/**
 * Process groups of running commands, so a second Ctrl-C can kill everything at once; and the
 * spawner that starts them (child_process unless the caller chose the native one).
 */
export class ProcessGroups {
  readonly #pids = new Set<number>();
  constructor(readonly spawner: Spawner = NODE_SPAWNER) {}
  add(pid: number): void {
    this.#pids.add(pid);
  }
  delete(pid: number): void {
    this.#pids.delete(pid);
  }
  killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const pid of this.#pids) killGroup(pid, signal);
  }
  get size(): number {
    return this.#pids.size;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs `/bin/sh -c cmd` in its own session and process group. Timeouts and aborts signal the
 * whole group (SIGTERM, then SIGKILL after a grace period), so a command's children never
 * outlive it; whatever is left of the group when the shell exits is killed too, as Bazel does.
 * With the native spawner of `groups` (spawn-native.ts) the command is started without
 * forking this process; otherwise by child_process (spawn-launch.ts).
 */
export function runCommand(opts: RunCommandOptions, groups?: ProcessGroups): Promise<ProcessResult> {
  const started = performance.now();
  const maxCapture = opts.maxCaptureBytes ?? DEFAULT_MAX_CAPTURE;
  return new Promise((resolve) => {
    if (opts.signal?.aborted) {
      resolve(emptyResult({ interrupted: true, durationMs: 0 }));
      return;
    }
    const spawner = groups?.spawner ?? NODE_SPAWNER;
    const files = opts.onLine === undefined && opts.captureDir !== undefined ? openCaptureFiles(opts.captureDir) : undefined;
    const captured = { stdout: new Capture(maxCapture), stderr: new Capture(maxCapture) };
    const splitters = {
      stdout: new LineSplitter((l) => opts.onLine?.('stdout', l)),
      stderr: new LineSplitter((l) => opts.onLine?.('stderr', l)),
    };
    let pid: number | undefined;
    let timedOut = false;
    let interrupted = false;
    let killTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let openStreams = 0;
    let launched: Launched | undefined;

    // Signals the group; a native start may still be queued, then this happens once it has a pid.
    const signalGroup = (): void => {
      if (exitInfo || settled || pid === undefined) return;
      const group = pid;
      killGroup(group, 'SIGTERM');
      killTimer ??= setTimeout(() => killGroup(group, 'SIGKILL'), opts.killGraceMs ?? DEFAULT_GRACE_MS);
      killTimer.unref();
    };
    const stop = (why: 'timeout' | 'abort'): void => {
      if (exitInfo || settled) return;
      if (why === 'timeout') timedOut = true;
      else interrupted = true;
      signalGroup();
    };
    const onAbort = (): void => stop('abort');

    const finish = (spawnError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) {
        killGroup(pid, 'SIGKILL'); // stray background children of the command
        groups?.delete(pid);
      }
      launched?.stdout?.destroy();
      launched?.stderr?.destroy();
      splitters.stdout.end();
      splitters.stderr.end();
      if (files) {
        // One byte over the limit tells the capture that something was cut.
        captured.stdout.push(files.stdout.take(maxCapture + 1));
        captured.stderr.push(files.stderr.take(maxCapture + 1));
      }
      resolve({
        exitCode: exitInfo?.code ?? null,
        signal: exitInfo?.signal ?? null,
        timedOut,
        interrupted,
        ...(spawnError === undefined ? {} : { spawnError }),
        stdout: captured.stdout.buffer(),
        stderr: captured.stderr.buffer(),
        truncated: captured.stdout.truncated || captured.stderr.truncated,
        durationMs: performance.now() - started,
        spawnedBy: launched?.by ?? spawner.kind,
      });
    };

    launched = launch(spawner, { cmd: opts.cmd, cwd: opts.cwd, env: opts.env, files: files && { stdout: files.stdout.fd, stderr: files.stderr.fd } }, {
      started: (p) => {
        pid = p;
        groups?.add(p);
        if (timedOut || interrupted) signalGroup();
      },
      failed: (message) => finish(message),
      exited: (code, signal) => {
        exitInfo = { code, signal };
        if (openStreams === 0) return finish();
        // Pipes may stay open if the command left a background child holding them.
        setTimeout(finish, PIPE_DRAIN_MS).unref();
      },
    });
    if (settled) return; // could not start
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = launched[name];
      if (!stream) continue;
      openStreams++;
      stream.on('data', (chunk: Buffer) => {
        captured[name].push(chunk);
        if (opts.onLine) splitters[name].push(chunk);
      });
      stream.on('error', () => undefined); // a read error ends the stream; 'close' follows
      stream.on('close', () => {
        if (--openStreams === 0 && exitInfo) finish();
      });
    }
    if (opts.timeoutMs) timeoutTimer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function emptyResult(over: Partial<ProcessResult>): ProcessResult {
  return {
    exitCode: null,
    signal: null,
    timedOut: false,
    interrupted: false,
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    truncated: false,
    durationMs: 0,
    spawnedBy: 'node',
    ...over,
  };
}

/** The conventional shell exit code for a signal (128 + number), e.g. 143 for SIGTERM. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

/** Keeps the head of a stream up to a byte limit. */
class Capture {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  truncated = false;
  constructor(readonly limit: number) {}
  push(chunk: Buffer): void {
    if (this.#bytes >= this.limit) {
      this.truncated = true;
      return;
    }
    const room = this.limit - this.#bytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.#chunks.push(part);
    this.#bytes += part.length;
  }
  buffer(): Buffer {
    return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
  }
}

/** Splits a byte stream into lines (UTF-8 safe across chunk boundaries). */
export class LineSplitter {
  #pending = '';
  readonly #decoder = new TextDecoder('utf-8');
  constructor(readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    const text = this.#pending + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.#pending = lines.pop() ?? '';
    for (const line of lines) this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
  end(): void {
    const rest = this.#pending + this.#decoder.decode();
    this.#pending = '';
    if (rest.length > 0) this.onLine(rest);
  }
}
