import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * The optional native spawner (native/spawn.c, built into build/Release/reprovm_spawn.node by
 * `npm ci`): posix_spawn (clone with CLONE_VM | CLONE_VFORK, so the Node process is not
 * copied) on a spawner thread (so the event loop never waits for an exec) into a new session
 * and process group; exits are reported through pidfds. When it is not built or does not
 * load, callers use child_process instead.
 */
export interface NativeSpawnAddon {
  /** Whether pidfd_open works on this kernel (Linux >= 5.3). */
  available(): boolean;
  /**
   * Queues the start of `file` (absolute; argv[0] included in `argv`; `envp` as "K=V"
   * strings) in `cwd` with fds 0/1/2 from the given descriptors (stdin < 0: /dev/null;
   * stdout/stderr {@link PIPE_FD}: a new pipe whose read end is returned, else -1 in its place),
   * in a new session and process group. The spawner thread starts it, so this never blocks; the
   * descriptors must stay open until `onStart`. `onStart(pid)`, or `onStart(-1, "ENOENT")` when
   * it could not start (then `onExit` is never called). `onExit` gets the exit code (-1 when
   * killed by a signal) and the signal number (0 when it exited).
   */
  spawn(
    file: string,
    argv: readonly string[],
    envp: readonly string[],
    cwd: string,
    stdinFd: number,
    stdoutFd: number,
    stderrFd: number,
    onStart: (pid: number, errorCode: string | undefined) => void,
    onExit: (exitCode: number, signal: number) => void,
  ): readonly [stdoutReadFd: number, stderrReadFd: number];
}

/** As stdoutFd/stderrFd of {@link NativeSpawnAddon.spawn}: make a pipe. */
export const PIPE_FD = -2;

export type NativeLoad = { readonly ok: true; readonly addon: NativeSpawnAddon } | { readonly ok: false; readonly reason: string };

const ADDON = 'build/Release/reprovm_spawn.node';

/**
 * Where the addon may be: the bundled CLI lives in dist/ and the sources in src/exec/, both
 * below the package root that holds build/.
 */
export function defaultAddonPaths(): string[] {
  return [new URL(`../${ADDON}`, import.meta.url), new URL(`../../${ADDON}`, import.meta.url)].map((u) => fileURLToPath(u));
}

/** Loads the addon from the first of `candidates` that exists (Node's require cache makes repeats cheap). */
export function loadNativeSpawn(candidates: readonly string[] = defaultAddonPaths()): NativeLoad {
  if (process.platform !== 'linux') return { ok: false, reason: `not supported on ${process.platform}` };
  const file = candidates.find((c) => existsSync(c));
  if (file === undefined) return { ok: false, reason: 'the native addon is not built (npm run build:native)' };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeSpawnAddon;
    if (typeof addon.spawn !== 'function' || typeof addon.available !== 'function') return { ok: false, reason: `${file} is not the spawn addon` };
    if (!addon.available()) return { ok: false, reason: 'pidfd_open is not available (Linux 5.3 or newer is needed)' };
    return { ok: true, addon };
  } catch (error) {
    return { ok: false, reason: `cannot load ${file}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** An environment object as the "K=V" list exec wants (unset values left out, as child_process does). */
export function envList(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}

/** A signal number as Node names it (SIGTERM for 15); undefined for 0. */
export function signalName(signo: number): NodeJS.Signals | null {
  if (signo === 0) return null;
  for (const [name, n] of Object.entries(osConstants.signals)) if (n === signo) return name as NodeJS.Signals;
  return null;
}
