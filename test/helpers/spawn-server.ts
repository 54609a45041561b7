import { spawn, type ChildProcess } from 'node:child_process';

/** A server process started by a test; `stop()` kills it (and is safe to call twice). */
export interface SpawnedServer {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `command args` and resolves once a line of its stdout matches `ready` (whose group 1
 * is the port). Rejects with the output so far if it exits first or takes longer than
 * `timeoutMs`.
 */
export function spawnServer(command: string, args: string[], ready: RegExp, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<SpawnedServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let output = '';
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} did not start within ${opts.timeoutMs ?? 15000} ms:\n${output}`));
    }, opts.timeoutMs ?? 15000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = ready.exec(output);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume(); // keep draining so the server never blocks on a full pipe
        resolve({ port: Number(m[1]), child, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}
