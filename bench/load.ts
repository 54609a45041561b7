/**
 * Load scenario (section `load`): the REST API under 100 concurrent connections while a build
 * runs, against a bare node:http hello-world measured in the same run on the same machine.
 *
 *   BENCH_LOAD_SECONDS=30     duration of each autocannon measurement (use 3 for a quick check)
 *   BENCH_LOAD_CONNECTIONS=100
 *
 * The server (`reprovm serve`) and the hello-world each run in their own process; autocannon
 * runs in this one. On a 2-core machine the load generator, the server and the build share the
 * CPUs, so the absolute figures are low; the ratio to the hello-world is what the target uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { MicroRow, Target } from './report.js';

/** The part of autocannon's result this scenario reads (the package ships no types). */
interface CannonResult {
  readonly requests: { readonly average: number };
  readonly latency: { readonly p99: number; readonly average: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly duration: number;
}
type Cannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<CannonResult>;

export interface LoadRow {
  readonly name: string;
  readonly reqPerSec: number;
  readonly p99Ms: number;
  readonly errors: number;
}

export interface LoadResult {
  readonly seconds: number;
  readonly connections: number;
  readonly rows: readonly LoadRow[];
  /** Whether the build was still running when the last measurement ended. */
  readonly buildRanThroughout: boolean;
}

const TOKEN = 'bench-load-token-0123456789abcdef';
const API = '/api/v1';

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitFor(url: string, headers: Record<string, string>, timeoutMs: number, child: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before it answered`);
    try {
      const res = await fetch(url, { headers });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A manifest whose forced build keeps the server busy for about `seconds` at -j 2. */
function writeWorkspace(dir: string, seconds: number): string {
  mkdirSync(dir, { recursive: true });
  const tasks = Math.max(8, Math.ceil(seconds * 2 * 1.5 * 2));
  const blocks: string[] = [];
  for (let i = 0; i < tasks; i++) {
    // Half a second asleep plus a little shell arithmetic: a build that both waits and computes.
    blocks.push(`task t${i} {\n  cmd = sleep 0.5; i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; echo ${i} > out/t${i}.txt\n  outputs = out/t${i}.txt\n}\n`);
  }
  const manifest = path.join(dir, 'manifest.txt');
  writeFileSync(manifest, blocks.join('\n'));
  return manifest;
}

/** Runs the load scenario; `cli` is bin/reprovm.js, `dir` a scratch directory of this run. */
export async function measureLoad(cli: string, dir: string, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const seconds = positiveInt(env, 'BENCH_LOAD_SECONDS', 30);
  const connections = positiveInt(env, 'BENCH_LOAD_CONNECTIONS', 100);
  const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const rows: LoadRow[] = [];
  const measure = async (name: string, url: string, headers: Record<string, string> = {}): Promise<void> => {
    const r = await autocannon({ url, connections, duration: seconds, headers });
    const row = { name, reqPerSec: r.requests.average, p99Ms: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
    log(`bench: load: ${name}: ${row.reqPerSec.toFixed(0)} req/s, p99 ${row.p99Ms} ms, ${row.errors} errors`);
    rows.push(row);
  };

  const hello = spawn(process.execPath, ['-e', "require('http').createServer((q, s) => s.end('hello')).listen(+process.argv[1], '127.0.0.1')", String(await freePort())], { stdio: 'ignore' });
  const helloPort = Number(hello.spawnargs.at(-1));
  const manifest = writeWorkspace(path.join(dir, 'ws'), seconds * 3);
  const port = await freePort();
  const serve = spawn(process.execPath, [cli, 'serve', manifest, '--host', '127.0.0.1', '--port', String(port), '--token', TOKEN], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' },
  });
  let stderr = '';
  serve.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
  const base = `http://127.0.0.1:${port}${API}`;
  try {
    await waitFor(`http://127.0.0.1:${helloPort}/`, {}, 10_000, hello);
    await waitFor(`${base}/health`, auth, 20_000, serve).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; server stderr: ${stderr.trim()}`);
    });
    const post = await fetch(`${base}/runs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ force: true, jobs: 2 }) });
    if (post.status !== 202) throw new Error(`POST /runs answered ${post.status}: ${await post.text()}`);
    const { id } = (await post.json()) as { id: string };

    await measure('node:http hello-world', `http://127.0.0.1:${helloPort}/`);
    await measure('GET /health', `${base}/health`, auth);
    await measure('GET /tasks', `${base}/tasks`, auth);
    await measure(`GET /runs/{id}`, `${base}/runs/${encodeURIComponent(id)}`, auth);
    const run = (await (await fetch(`${base}/runs/${encodeURIComponent(id)}`, { headers: auth })).json()) as { status?: string };
    const buildRanThroughout = run.status === 'running' || run.status === 'queued';
    if (!buildRanThroughout) log(`bench: load: the build had finished (${run.status ?? '?'}) before the last measurement ended`);
    await fetch(`${base}/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST', headers: auth }).catch(() => undefined);
    return { seconds, connections, rows, buildRanThroughout };
  } finally {
    await Promise.all([stop(serve), stop(hello)]);
  }
}

/** The scenario in one paragraph, for the notes of RESULTS.md. */
export const LOAD_NOTE =
  'API load: `reprovm serve` on loopback with one workspace and an admin token; a forced build (sleep 0.5 s plus some shell arithmetic per task, -j 2) is queued through POST /runs first and runs during every measurement. autocannon (in the bench process) keeps BENCH_LOAD_CONNECTIONS (100) connections busy for BENCH_LOAD_SECONDS (30) per route; "errors" counts connection errors, timeouts and non-2xx answers. The node:http hello-world runs in its own process, measured in the same run. The load generator, the server and the build share the 2 CPUs.';

/** Rows for the micro-benchmark table. */
export function loadRows(r: LoadResult): MicroRow[] {
  return r.rows.map((row) => ({
    name: `${row.name}: ${r.connections} connections, ${r.seconds} s${row.name.startsWith('GET') ? ' (build running)' : ''}; p99 ${row.p99Ms} ms, ${row.errors} errors`,
    value: `${row.reqPerSec.toFixed(0)} req/s`,
  }));
}

/** The targets: /health at ≥ 0.5× the hello-world's requests/s, and no errors on any route. */
export function loadTargets(r: LoadResult | undefined): Target[] {
  const hello = r?.rows.find((x) => x.name.startsWith('node:http'));
  const health = r?.rows.find((x) => x.name === 'GET /health');
  const ratio = hello && health ? health.reqPerSec / hello.reqPerSec : undefined;
  const errors = r?.rows.reduce((sum, x) => sum + x.errors, 0);
  return [
    {
      name: 'API load: GET /health vs bare node:http',
      measured: health && hello ? `${health.reqPerSec.toFixed(0)} vs ${hello.reqPerSec.toFixed(0)} req/s = ${ratio?.toFixed(2)}×` : '—',
      threshold: '≥ 0.5×',
      pass: ratio === undefined ? undefined : ratio >= 0.5,
    },
    { name: 'API load: errors on /health, /tasks, /runs/{id}', measured: errors === undefined ? '—' : String(errors), threshold: '0', pass: errors === undefined ? undefined : errors === 0 },
  ];
}
