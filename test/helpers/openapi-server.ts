/**
 * A real `reprovm serve` for integration tests: started from the built CLI on 127.0.0.1 with
 * port 0, its URL read from the "listening on" line, and a small client whose every answer is
 * validated against openapi.yaml.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before } from 'node:test';
import { OpenApiChecker } from './openapi.js';
import { CLI, Rig } from './rig.js';

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

/** One served workspace for a `describe` block; `server` and `api` exist once its `before` hook ran. */
export interface ServedSuite {
  readonly rig: Rig;
  readonly checker: OpenApiChecker;
  readonly server: ServerProcess;
  /** A client with the suite's token (if any); validates every answer against openapi.yaml. */
  readonly api: ApiClient;
}

/** What {@link serveSuite} starts. */
export interface ServeSuiteSetup {
  /** Files written into the rig before the server starts. */
  readonly files: Record<string, string> | ((rig: Rig) => Record<string, string>);
  /** Arguments after `reprovm serve --host 127.0.0.1 --port 0`. */
  readonly args: readonly string[] | ((rig: Rig) => readonly string[]);
  readonly env?: NodeJS.ProcessEnv;
  /** The token the suite's client sends. */
  readonly token?: string;
  /** Runs after the tests, before the server is stopped (e.g. release a task that waits). */
  readonly beforeStop?: (rig: Rig) => void;
}

/**
 * Call inside a `describe`: registers the hooks that write the files into a new rig, start
 * `reprovm serve` there with a client, and afterwards stop it (SIGTERM) and remove the rig.
 */
export function serveSuite(prefix: string, setup: ServeSuiteSetup): ServedSuite {
  const rig = new Rig(prefix);
  const checker = new OpenApiChecker();
  let server: ServerProcess | undefined;
  let api: ApiClient | undefined;
  before(async () => {
    rig.write(typeof setup.files === 'function' ? setup.files(rig) : setup.files);
    const args = typeof setup.args === 'function' ? setup.args(rig) : setup.args;
    server = await startServe(args, { cwd: rig.dir, ...(setup.env === undefined ? {} : { env: setup.env }) });
    api = new ApiClient(server.url, checker, setup.token);
  });
  after(async () => {
    setup.beforeStop?.(rig);
    await server?.stop('SIGTERM');
    rig.cleanup();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the server of this suite has not started (use it inside a test)');
    return value;
  };
  return {
    rig,
    checker,
    get server() {
      return started(server);
    },
    get api() {
      return started(api);
    },
  };
}

/** Polls `GET /runs/{id}` until the run has ended; returns its record. */
export async function runFinished(api: ApiClient, id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 800; i++) {
    const r = await api.get(`/runs/${id}`);
    if (r.status !== 200) throw new Error(`GET /runs/${id}: ${r.status} ${r.text}`);
    if (!['queued', 'running'].includes(r.json.status)) return r.json;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`run ${id} did not finish`);
}
