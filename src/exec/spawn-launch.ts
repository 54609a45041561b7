import { spawn } from 'node:child_process';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { envList, PIPE_FD, signalName } from './spawn-native.js';
import type { Spawner } from './spawn-select.js';

/** What to start: `/bin/sh -c cmd`, its output to the given files, or else to pipes. */
export interface LaunchRequest {
  readonly cmd: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly files?: { readonly stdout: number; readonly stderr: number } | undefined;
}

/** How a launch reports back; each is called at most once, `exited` only after `started`. */
export interface LaunchEvents {
  started(pid: number): void;
  /** It could not start, in child_process words ("spawn /bin/sh ENOENT"). */
  failed(message: string): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
}

/** The command's output streams (null when it writes to files) and who started it. */
export interface Launched {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly by: Spawner['kind'];
}

/**
 * Starts a command in a new session and process group with either spawner, behind one
 * interface: child_process.spawn (`detached`), or the native addon (posix_spawn on its spawner
 * thread; pipes are wrapped in net.Socket, as child_process does).
 */
export function launch(spawner: Spawner, req: LaunchRequest, ev: LaunchEvents): Launched {
  if (spawner.kind === 'native') {
    let fds: readonly number[];
    try {
      fds = spawner.addon.spawn(
        '/bin/sh',
        ['/bin/sh', '-c', req.cmd],
        envList(req.env),
        req.cwd,
        -1,
        req.files?.stdout ?? PIPE_FD,
        req.files?.stderr ?? PIPE_FD,
        (pid, code) => (pid < 0 ? ev.failed(`spawn /bin/sh ${code ?? 'failed'}`) : ev.started(pid)),
        (code, signo) => ev.exited(code >= 0 ? code : null, signalName(signo)),
      );
    } catch (error) {
      ev.failed(error instanceof Error ? error.message : String(error));
      return { stdout: null, stderr: null, by: 'native' };
    }
    const socket = (fd: number | undefined): Readable | null =>
      fd === undefined || fd < 0 ? null : new Socket({ fd, readable: true, writable: false });
    return { stdout: socket(fds[0]), stderr: socket(fds[1]), by: 'native' };
  }
  const child = spawn('/bin/sh', ['-c', req.cmd], {
    cwd: req.cwd,
    env: req.env,
    detached: true,
    stdio: req.files ? ['ignore', req.files.stdout, req.files.stderr] : ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', (e) => ev.failed(e.message));
  child.on('exit', (code, signal) => ev.exited(code, signal));
  if (child.pid !== undefined) ev.started(child.pid);
  return { stdout: child.stdout, stderr: child.stderr, by: 'node' };
}
