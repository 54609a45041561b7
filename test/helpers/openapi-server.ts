/**
 * A real `reprovm serve` for integration tests: started from the built CLI on 127.0.0.1 with
 * port 0, its URL read from the "listening on" line, and a small client whose every answer is
 * validated against openapi.yaml.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './rig.js';
import type { OpenApiChecker } from './openapi.js';

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `reprovm serve ARGS` in `cwd`; resolves when it listens. */
export function startServe(args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`serve did not start:\n${out}\n${err}`));
    }, opts.timeoutMs ?? 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, stderr: () => err, stop });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening:\n${out}\n${err}`));
    });
  });
}

export interface ApiAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /**
   * The parsed JSON body (undefined for other content types). `any` on purpose: the body has
   * already been validated against its schema in openapi.yaml, and tests read many shapes.
   */
  readonly json: any;
}

/** A client for one server: every answer is validated against the spec. */
export class ApiClient {
  constructor(
    readonly base: string,
    readonly checker: OpenApiChecker,
    readonly token?: string,
  ) {}

  withToken(token: string | undefined): ApiClient {
    return new ApiClient(this.base, this.checker, token);
  }

  async request(method: string, path: string, opts: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<ApiAnswer> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (opts.rawBody !== undefined) body = opts.rawBody;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.base}/api/v1${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const urlPath = new URL(`${this.base}/api/v1${path}`).pathname;
    this.checker.check(method, urlPath, res.status, type, text);
    return { status: res.status, headers: res.headers, text, json: type.startsWith('application/json') ? JSON.parse(text) : undefined };
  }

  get(path: string): Promise<ApiAnswer> {
    return this.request('GET', path);
  }

  post(path: string, body?: unknown): Promise<ApiAnswer> {
    return this.request('POST', path, body === undefined ? {} : { body });
  }
}
