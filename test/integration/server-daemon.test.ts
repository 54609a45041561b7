/**
 * `reprovm serve` as a daemon: one daemon per cache directory (a second one refuses to start
 * and leaves the first one's runs and history alone; a lock left by a dead daemon is broken),
 * a SIGHUP reload that must not let a schedule overlap the run it started before, and run
 * metrics counted with the API's run status (cancelled runs included).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { OpenApiChecker } from '../helpers/openapi.js';
import { ApiClient, runFinished, startServe, type ServerProcess } from '../helpers/openapi-server.js';
import { Rig, waitFor } from '../helpers/rig.js';

const TOKEN = 'daemon-admin-token-0123';
const ENV = { REPROVM_SERVER_TOKEN: TOKEN };
const MANIFEST = `task wait {
  cmd = echo $$ > wait.pid; while [ ! -f go ]; do sleep 0.05; done
}

task hello {
  cmd = echo hello
}

task nap {
  cmd = echo start >> naps.log; sleep 5; echo end >> naps.log
}
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('serve: one daemon per cache directory', () => {
  const rig = new Rig('reprovm-serve-lock-');
  const servers: ServerProcess[] = [];
  after(async () => {
    rig.write({ go: '' });
    for (const s of servers) await s.stop('SIGTERM');
    rig.cleanup();
  });

  test('a second serve on the same workspace exits 2 and leaves the running build and its history alone', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' });
    const first = await startServe(['manifest.txt'], { cwd: rig.dir, env: ENV });
    servers.push(first);
    const api = new ApiClient(first.url, new OpenApiChecker(), TOKEN);
    const id = (await api.post('/runs', { targets: ['wait'] })).json.id as string;
    await waitFor(() => rig.exists('wait.pid') && rig.read('wait.pid').trim() !== '', 20_000, 'the task to start');
    const taskPid = Number(rig.read('wait.pid').trim());
    const summaryFile = path.join(rig.path('.reprovm/runs'), id, 'summary.json');
    const before = readFileSync(summaryFile, 'utf8');

    const second = await rig.run(['serve', '--host', '127.0.0.1', '--port', '0', 'manifest.txt'], {
      env: { ...ENV, REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf' },
    });
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`another reprovm serve \\(pid ${first.child.pid}\\) already serves the run history in `));
    assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);

    assert.ok(alive(taskPid), 'the first daemon\'s task was killed');
    assert.equal(readFileSync(summaryFile, 'utf8'), before);
    assert.equal((await api.get(`/runs/${id}`)).json.status, 'running');
    rig.write({ go: '' });
    assert.equal((await runFinished(api, id)).status, 'succeeded');
  });

  test('a lock left by a dead daemon is broken at start', async () => {
    for (const s of servers.splice(0)) await s.stop('SIGTERM');
    // A lock as a daemon that was killed would have left it: the lock directory and a dead owner.
    mkdirSync(rig.path('.reprovm/runs.lock'), { recursive: true });
    writeFileSync(rig.path('.reprovm/runs.lock.owner'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAt: new Date().toISOString() }));
    const again = await startServe(['manifest.txt'], { cwd: rig.dir, env: ENV });
    servers.push(again);
    assert.equal((await new ApiClient(again.url, new OpenApiChecker(), TOKEN).get('/runs')).status, 200);
  });
});

describe('serve: SIGHUP and schedules', () => {
  const rig = new Rig('reprovm-serve-hup-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('after a reload, a schedule tick does not start a run while the previous one still runs', async () => {
    const conf = (extra: string): string => `[notifications]\non = never\n${extra}\n[schedule.naps]\ncron = */2 * * * * *\ntargets = nap\nforce = 1\n`;
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': conf('') });
    server = await startServe(['manifest.txt', '--config', 'reprovm.conf'], { cwd: rig.dir, env: ENV });
    const api = new ApiClient(server.url, new OpenApiChecker(), TOKEN);
    await waitFor(() => rig.exists('naps.log'), 20_000, 'the first scheduled run');
    // Changed limits, same schedule: the reload builds a new scheduler.
    rig.write({ 'reprovm.conf': conf('[server]\nmax_queue = 5\n') });
    server.child.kill('SIGHUP');
    await waitFor(() => server!.stderr().includes('configuration reloaded'), 10_000, 'the reload');
    // Ticks every 2 s come while the 5 s run goes on; wait for it to end and a tick after it.
    await waitFor(() => rig.read('naps.log').includes('end'), 15_000, 'the first run to end');
    await new Promise((r) => setTimeout(r, 2500));
    const runs = (await api.get('/runs?limit=50')).json.runs as { createdAt: string; finishedAt: string | null; trigger: string }[];
    const scheduled = runs.filter((r) => r.trigger === 'schedule:naps').sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
    assert.ok(scheduled.length >= 1);
    for (let i = 1; i < scheduled.length; i++) {
      const previousEnd = scheduled[i - 1]!.finishedAt;
      assert.ok(previousEnd !== null && scheduled[i]!.createdAt >= previousEnd, `run ${i} was queued while run ${i - 1} was in flight: ${JSON.stringify(scheduled)}`);
    }
    assert.match(server.stderr(), /tick of .* skipped: the run it started before is still running/);
    const log = rig.read('naps.log').trim().split('\n');
    for (let i = 0; i < log.length; i++) assert.equal(log[i], i % 2 === 0 ? 'start' : 'end', log.join(','));
  });
});

describe('serve: run metrics', () => {
  const rig = new Rig('reprovm-serve-runmetrics-');
  let server: ServerProcess | undefined;
  after(async () => {
    rig.write({ go: '' });
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('reprovm_runs_total and reprovm_run_duration_seconds count runs by the status the API reports', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' });
    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: ENV });
    const api = new ApiClient(server.url, new OpenApiChecker(), TOKEN);
    const ok = (await api.post('/runs', { targets: ['hello'] })).json.id as string;
    assert.equal((await runFinished(api, ok)).status, 'succeeded');
    // One run cancelled while running, one while still queued behind it.
    const running = (await api.post('/runs', { targets: ['wait'] })).json.id as string;
    const queued = (await api.post('/runs', { targets: ['hello'], force: true })).json.id as string;
    await waitFor(() => rig.exists('wait.pid') && rig.read('wait.pid').trim() !== '', 20_000, 'the task to start');
    assert.equal((await api.post(`/runs/${queued}/cancel`)).status, 200);
    assert.equal((await api.post(`/runs/${running}/cancel`)).status, 200);
    assert.equal((await runFinished(api, running)).status, 'cancelled');
    assert.equal((await api.get(`/runs/${queued}`)).json.status, 'cancelled');

    const text = (await api.get('/metrics')).text;
    const ws = path.basename(rig.dir);
    const series = (name: string): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const m = new RegExp(`^${name}\\{(.*)\\} (\\S+)$`).exec(line);
        if (m && m[1]!.includes(`workspace="${ws}"`)) out[/status="([^"]+)"/.exec(m[1]!)![1]!] = Number(m[2]);
      }
      return out;
    };
    assert.deepEqual(series('reprovm_runs_total'), { succeeded: 1, cancelled: 2 });
    assert.deepEqual(series('reprovm_run_duration_seconds_count'), { succeeded: 1, cancelled: 2 });
  });
});

describe('serve: an invalid manifest', () => {
  const rig = new Rig('reprovm-serve-badmanifest-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('GET /tasks and POST /runs answer 409 invalid-manifest (not 500); keep-going is not a field name', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' });
    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: ENV });
    const api = new ApiClient(server.url, new OpenApiChecker(), TOKEN);
    const alias = await api.post('/runs', { targets: ['hello'], 'keep-going': true });
    assert.equal(alias.status, 400);
    assert.equal(alias.json.error.code, 'bad-request');
    rig.write({ 'manifest.txt': 'task broken {\n  cmd =\n' });
    for (const r of [await api.get('/tasks'), await api.post('/runs', { targets: ['hello'] })]) {
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.error.code, 'invalid-manifest');
      assert.match(r.json.error.message, /the manifest of workspace ".*" is invalid/);
    }
    assert.doesNotMatch(server.stderr(), /error: (GET|POST)/);
  });
});
