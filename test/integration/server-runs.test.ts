/**
 * `reprovm serve` run lifecycle with real child runs: live SSE while a build runs, the queue
 * (429 when full, 409 for cache maintenance while busy), 50 clients polling a running build,
 * cancelling (the task's processes are gone, nothing partial cached), a daemon killed mid-run
 * (the run is aborted on restart, the next run works) and a graceful SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OpenApiChecker } from '../helpers/openapi.js';
import { ApiClient, runFinished, serveSuite, startServe, type ServerProcess } from '../helpers/openapi-server.js';
import { Rig, waitFor } from '../helpers/rig.js';

// `slow` waits for a file named go; `hang` writes a partial output and never ends by itself.
const MANIFEST = `task slow {
  cmd = echo $$ > slow.pid; echo waiting; while [ ! -f go ]; do sleep 0.05; done; echo slow-done; echo s > s.txt
  outputs = s.txt
}

task hang {
  cmd = echo partial > h.txt; echo $$ > hang.pid; while true; do sleep 0.05; done
  outputs = h.txt
}

task ticker {
  cmd = echo $$ > ticker.pid; while [ ! -f go ]; do echo tick; sleep 0.1; done
}

task quick {
  cmd = echo q > q.txt
  outputs = q.txt
}
`;

const TOKEN = 'runs-admin-token';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidIn = (rig: Rig, file: string): number => Number(rig.read(file).trim());

describe('serve: runs', () => {
  const served = serveSuite('reprovm-serve-runs-', {
    files: { 'manifest.txt': MANIFEST, 'reprovm.conf': '[server]\nmax_queue = 2\n\n[notifications]\non = never\n' },
    args: ['manifest.txt'],
    env: { REPROVM_SERVER_TOKEN: TOKEN },
    token: TOKEN,
    // Release the tasks that wait for it, so that the server stops quickly.
    beforeStop: (r) => r.write({ go: '' }),
  });
  const { rig, checker } = served;

  test('GET /runs/{id}/events streams the events while the build runs, then ends', async () => {
    const run = await served.api.post('/runs', { targets: ['slow'] });
    assert.equal(run.status, 202);
    const id = run.json.id as string;
    const res = await fetch(`${served.server.url}/api/v1/runs/${id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let sawWhileRunning = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (!sawWhileRunning && /data: .*"type":"task-output".*"line":"waiting"/.test(text)) {
        // The task is waiting for us: this event arrived while the build runs.
        sawWhileRunning = true;
        assert.equal((await served.api.get(`/runs/${id}`)).json.status, 'running');
        assert.equal(existsSync(rig.path('s.txt')), false);
        rig.write({ go: '' });
      }
    }
    assert.ok(sawWhileRunning, text);
    checker.check('GET', `/api/v1/runs/${id}/events`, res.status, res.headers.get('content-type') ?? '', text);
    const types = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(types.slice(0, 2), ['run-started', 'task-started']);
    assert.deepEqual(types.slice(-3), ['task-finished', 'run-finished', 'end']);
    assert.match(text, /data: \{"id":"[^"]+","status":"succeeded"\}/);
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(ids, ids.map((_, i) => i + 1));
  });

  test('queue: 50 pollers, 429 when full, 409 for cache maintenance, cancel of queued and running runs', async () => {
    const hang = await served.api.post('/runs', { targets: ['hang'] });
    assert.equal(hang.status, 202);
    const hangId = hang.json.id as string;
    await waitFor(() => existsSync(rig.path('hang.pid')) && rig.read('hang.pid').trim() !== '', 20_000, 'hang to start');
    const pid = pidIn(rig, 'hang.pid');
    assert.ok(alive(pid));

    // 50 clients poll the running build at once.
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = 0; i < 5; i++) {
          const r = await served.api.get(`/runs/${hangId}`);
          statuses.push(r.status);
          assert.equal(r.json.status, 'running');
        }
      }),
    );
    assert.equal(statuses.length, 250);
    assert.ok(statuses.every((s) => s === 200));

    const q1 = await served.api.post('/runs', { targets: ['quick'] });
    const q2 = await served.api.post('/runs', { targets: ['quick'], force: true });
    assert.equal(q1.json.status, 'queued');
    assert.equal(q2.json.status, 'queued');
    const full = await served.api.post('/runs', { targets: ['quick'] });
    assert.equal(full.status, 429);
    assert.equal(full.json.error.code, 'queue-full');
    const ws = (await served.api.get('/workspaces')).json.workspaces[0];
    assert.deepEqual([ws.queued, ws.running], [2, 1]);

    // SIGHUP with a larger queue: the queued runs stay, and one more fits.
    rig.write({ 'reprovm.conf': '[server]\nmax_queue = 3\n\n[notifications]\non = never\n' });
    served.server.child.kill('SIGHUP');
    await waitFor(() => served.server.stderr().includes('configuration reloaded'), 10_000, 'the reload');
    const q3 = await served.api.post('/runs', { targets: ['quick'] });
    assert.equal(q3.status, 202);
    assert.equal((await served.api.get(`/runs/${q1.json.id}`)).json.status, 'queued');
    assert.equal((await served.api.get('/workspaces')).json.workspaces[0].queued, 3);
    assert.equal((await served.api.post(`/runs/${q3.json.id}/cancel`)).json.status, 'cancelled');

    const clear = await served.api.request('DELETE', '/cache');
    assert.equal(clear.status, 409);
    assert.equal(clear.json.error.code, 'conflict');
    assert.equal((await served.api.post('/cache/gc', { maxBytes: 0 })).status, 409);
    assert.equal((await served.api.post('/cache/gc', { maxBytes: 0, dryRun: true })).status, 200);

    const c2 = await served.api.post(`/runs/${q2.json.id}/cancel`);
    assert.equal(c2.status, 200);
    assert.equal(c2.json.status, 'cancelled');

    const c = await served.api.post(`/runs/${hangId}/cancel`);
    assert.equal(c.status, 200);
    const ended = await runFinished(served.api, hangId);
    assert.equal(ended.status, 'cancelled');
    await waitFor(() => !alive(pid), 10_000, 'the task process to be gone');
    // Nothing partial was cached: a run would execute hang again, for want of any record.
    const task = await served.api.get('/tasks/hang');
    assert.equal(task.json.explain.action, 'run');
    assert.equal(task.json.explain.reasons[0].kind, 'no-previous-record');
    assert.equal((await runFinished(served.api, q1.json.id)).status, 'succeeded');
    assert.equal((await served.api.get(`/runs/${q2.json.id}`)).json.status, 'cancelled');
  });
});

describe('serve: restart and stop', () => {
  const rig = new Rig('reprovm-serve-restart-');
  const checker = new OpenApiChecker();
  let server: ServerProcess | undefined;

  before(() => rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' }));
  after(async () => {
    rig.write({ go: '' });
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('a daemon killed mid-run: the run is aborted on restart, its task stopped, and the next run works', async () => {
    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: { REPROVM_SERVER_TOKEN: TOKEN } });
    let api = new ApiClient(server.url, checker, TOKEN);
    // A task that keeps printing: its run must survive the server's death (no broken pipe).
    const id = (await api.post('/runs', { targets: ['ticker'] })).json.id as string;
    await waitFor(() => existsSync(rig.path('ticker.pid')) && rig.read('ticker.pid').trim() !== '', 20_000, 'ticker to start');
    const pid = pidIn(rig, 'ticker.pid');
    const childPid = JSON.parse(readFileSync(path.join(rig.path('.reprovm/runs'), id, 'summary.json'), 'utf8')).childPid as number;
    assert.ok(alive(childPid));
    await server.stop('SIGKILL');
    const ticks = (): number => (readFileSync(path.join(rig.path('.reprovm/runs'), id, 'events.ndjson'), 'utf8').match(/"line":"tick"/g) ?? []).length;
    const before = ticks();
    await waitFor(() => ticks() > before + 2, 10_000, 'the orphaned run to go on');
    assert.ok(alive(pid) && alive(childPid));

    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: { REPROVM_SERVER_TOKEN: TOKEN } });
    api = new ApiClient(server.url, checker, TOKEN);
    const run = await api.get(`/runs/${id}`);
    assert.equal(run.json.status, 'aborted');
    assert.match(run.json.message, /server stopped/);
    assert.deepEqual(run.json.tasks, []);
    await waitFor(() => !alive(pid) && !alive(childPid), 10_000, 'the orphaned run and its task to be stopped');

    rig.write({ go: '' });
    const next = await api.post('/runs', { targets: ['slow'] });
    const done = await runFinished(api, next.json.id);
    assert.equal(done.status, 'succeeded');
    assert.equal(rig.read('s.txt'), 's\n');
  });

  test('SIGTERM: running runs are cancelled (their tasks stopped), the daemon exits 0; history survives', async () => {
    rmSync(rig.path('go'), { force: true });
    rmSync(rig.path('slow.pid'), { force: true });
    const api = new ApiClient(server!.url, checker, TOKEN);
    const id = (await api.post('/runs', { targets: ['slow'], force: true })).json.id as string;
    await waitFor(() => existsSync(rig.path('slow.pid')) && rig.read('slow.pid').trim() !== '', 20_000, 'slow to start');
    const pid = pidIn(rig, 'slow.pid');
    const exit = await server!.stop('SIGTERM');
    assert.equal(exit.code, 0, server!.stderr());
    assert.equal(alive(pid), false);
    const summary = JSON.parse(readFileSync(path.join(rig.path('.reprovm/runs'), id, 'summary.json'), 'utf8'));
    assert.equal(summary.run.status, 'cancelled');
    assert.equal(summary.run.message, 'the server was stopped');
    assert.ok(readdirSync(rig.path('.reprovm/runs')).length >= 3);

    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: { REPROVM_SERVER_TOKEN: TOKEN } });
    const again = new ApiClient(server.url, checker, TOKEN);
    const list = await again.get('/runs');
    assert.deepEqual(list.json.runs.map((r: { status: string }) => r.status), ['cancelled', 'succeeded', 'aborted']);
  });
});
