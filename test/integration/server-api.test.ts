/**
 * `reprovm serve`: every route of openapi.yaml with valid and invalid input, on a real server
 * (the built CLI on 127.0.0.1, port 0) running real child runs. Every answer is validated
 * against the spec by the client (test/helpers/openapi.ts); the last test checks that every
 * operation of the spec was exercised.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { SPEC_FILE } from '../helpers/openapi.js';
import { runFinished, serveSuite } from '../helpers/openapi-server.js';

const MANIFEST = `task a {
  description = the first
  cmd = echo A-out; echo a > a.txt
  outputs = a.txt
}

task b {
  cmd = cat a.txt > b.txt; echo B-err >&2
  inputs = a.txt
  outputs = b.txt
}

task broken {
  cmd = echo broken-out; exit 3
}
`;

const CONFIG = `[server]
max_body_kb = 4

[notifications]
on = never
webhook_url = https://hooks.example.com/canary-secret-4711

[schedule.nightly]
cron = 0 3 * * *
targets = a
`;

const TOKEN = 'admin-token-0123456789';

describe('serve: every route', () => {
  const served = serveSuite('reprovm-serve-api-', {
    files: { 'manifest.txt': MANIFEST, 'reprovm.conf': CONFIG },
    args: ['manifest.txt'],
    env: { REPROVM_SERVER_TOKEN: TOKEN },
    token: TOKEN,
  });
  const { rig, checker } = served;
  let okRun: string;
  let failedRun: string;

  test('openapi.yaml is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(SPEC_FILE);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    assert.equal(checker.doc.openapi, '3.1.0');
  });

  test('GET /workspaces lists the served workspace', async () => {
    const r = await served.api.get('/workspaces');
    assert.equal(r.status, 200);
    assert.equal(r.json.workspaces.length, 1);
    assert.equal(r.json.workspaces[0].manifest, rig.path('manifest.txt'));
  });

  test('GET /tasks lists the tasks in manifest order; unknown or empty workspace is 404/400', async () => {
    const r = await served.api.get('/tasks');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.tasks.map((t: { name: string }) => t.name), ['a', 'b', 'broken']);
    assert.equal(r.json.tasks[0].description, 'the first');
    assert.equal(r.json.tasks[0].lastStatus, 'not-run');
    assert.equal((await served.api.get('/tasks?workspace=nope')).status, 404);
    const empty = await served.api.get('/tasks?workspace=');
    assert.equal(empty.status, 400);
    assert.equal(empty.json.error.code, 'bad-request');
  });

  test('POST /runs queues a run that succeeds; GET /runs/{id} has per-task results and the summary', async () => {
    const r = await served.api.post('/runs', { targets: ['b'] });
    assert.equal(r.status, 202);
    assert.match(r.json.status, /^(queued|running)$/);
    okRun = r.json.id;
    const run = await runFinished(served.api, okRun);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.exitCode, 0);
    assert.deepEqual((run.tasks as { name: string; status: string }[]).map((t) => [t.name, t.status]), [['a', 'executed'], ['b', 'executed']]);
    assert.equal((run.summary as { executed: number }).executed, 2);
    assert.equal(run.trigger, 'api:env');
    assert.equal(rig.read('b.txt'), 'a\n');
  });

  test('POST /tasks is an alias; a failing task makes a failed run', async () => {
    const r = await served.api.post('/tasks', { targets: ['broken'], force: true, jobs: 1, keepGoing: true });
    assert.equal(r.status, 202);
    failedRun = r.json.id;
    const run = await runFinished(served.api, failedRun);
    assert.equal(run.status, 'failed');
    assert.equal(run.exitCode, 1);
    assert.deepEqual(run.targets, ['broken']);
    assert.equal(run.force, true);
    assert.equal(run.jobs, 1);
  });

  test('POST /runs rejects bad input with 400/413/415 and a JSON error', async () => {
    const cases: [unknown, string][] = [
      [{ targets: ['nope'] }, 'unknown-target'],
      [{ targets: 'a' }, 'bad-request'],
      [{ jobs: 0 }, 'bad-request'],
      [{ jobs: '4' }, 'bad-request'],
      [{ force: 'yes' }, 'bad-request'],
      [{ targets: ['a'], extra: 1 }, 'bad-request'],
      [[1, 2], 'bad-request'],
    ];
    for (const [body, code] of cases) {
      const r = await served.api.post('/runs', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.code, code, JSON.stringify(body));
      assert.doesNotMatch(r.text, /at .*\.js:\d+/); // no stack
    }
    const unknown = await served.api.post('/runs', { targets: ['bb'] });
    assert.match(unknown.json.error.message, /did you mean "b"/);
    const bad = await served.api.request('POST', '/runs', { rawBody: '{"targets": [', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid-json');
    const big = await served.api.request('POST', '/runs', { rawBody: JSON.stringify({ targets: ['a'.repeat(200)].concat(Array(30).fill('x'.repeat(200))) }), headers: { 'content-type': 'application/json' } });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'body-too-large');
    const text = await served.api.request('POST', '/runs', { rawBody: 'targets=a', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    assert.equal(text.json.error.code, 'unsupported-media-type');
  });

  test('POST /runs without a body runs everything', async () => {
    const r = await served.api.request('POST', '/runs', { headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 202);
    const run = await runFinished(served.api, r.json.id);
    assert.equal(run.status, 'failed'); // "broken" is part of everything
    assert.deepEqual(run.targets, []);
  });

  test('GET /runs pages newest first and filters by status', async () => {
    const all = await served.api.get('/runs');
    assert.equal(all.status, 200);
    assert.equal(all.json.total, 3);
    const ids = all.json.runs.map((r: { id: string }) => r.id);
    assert.deepEqual(ids, [...ids].sort().reverse());
    const page = await served.api.get('/runs?limit=1&offset=1');
    assert.equal(page.json.runs.length, 1);
    assert.equal(page.json.runs[0].id, failedRun);
    const failed = await served.api.get('/runs?status=failed');
    assert.equal(failed.json.total, 2);
    for (const q of ['limit=0', 'limit=x', 'offset=-1', 'status=bogus']) assert.equal((await served.api.get(`/runs?${q}`)).status, 400, q);
  });

  test('GET /runs/{id}: unknown is 404, a malformed id 400', async () => {
    assert.equal((await served.api.get('/runs/20200101-000000000-abcdef')).status, 404);
    assert.equal((await served.api.get('/runs/..%2F..%2Fetc')).status, 400);
    const undecodable = await served.api.get('/runs/%zz');
    assert.equal(undecodable.status, 400);
    assert.equal(undecodable.json.error.code, 'bad-request');
  });

  test('GET /runs/{id}/logs/{task} returns the task output; unknown task 404', async () => {
    const a = await served.api.get(`/runs/${okRun}/logs/a`);
    assert.equal(a.status, 200);
    assert.equal(a.text, 'A-out\n');
    assert.equal((await served.api.get(`/runs/${okRun}/logs/b`)).text, 'B-err\n');
    assert.equal((await served.api.get(`/runs/${failedRun}/logs/broken`)).text, 'broken-out\n');
    assert.equal((await served.api.get(`/runs/${okRun}/logs/nope`)).status, 404);
    assert.equal((await served.api.get('/runs/20200101-000000000-abcdef/logs/a')).status, 404);
  });

  test('GET /runs/{id}/events replays the events of an ended run and ends', async () => {
    const r = await served.api.get(`/runs/${okRun}/events`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    const types = [...r.text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    assert.equal(types[0], 'run-started');
    assert.deepEqual(types.slice(-2), ['run-finished', 'end']);
    const data = [...r.text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!));
    assert.deepEqual(data.at(-1), { id: okRun, status: 'succeeded' });
    const resumed = await served.api.request('GET', `/runs/${okRun}/events`, { headers: { 'last-event-id': '2' } });
    assert.equal(resumed.text.match(/^id: (\d+)$/m)?.[1], '3');
    assert.equal((await served.api.get('/runs/20200101-000000000-abcdef/events')).status, 404);
  });

  test('POST /runs/{id}/cancel: an ended run is 409, an unknown one 404', async () => {
    const r = await served.api.post(`/runs/${okRun}/cancel`);
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'conflict');
    assert.equal((await served.api.post('/runs/20200101-000000000-abcdef/cancel')).status, 404);
  });

  test('GET /tasks/{name}: dependencies, last runs and the explain record', async () => {
    const r = await served.api.get('/tasks/b');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.deps, [{ task: 'a', kind: 'inferred', via: 'a.txt' }]);
    assert.equal(r.json.lastStatus, 'cached'); // the run of everything found it up to date
    assert.match(r.json.key, /^[0-9a-f]{64}$/);
    assert.deepEqual(r.json.lastRuns.map((x: { status: string }) => x.status), ['cached', 'executed']);
    assert.equal(r.json.lastRuns[1].runId, okRun);
    assert.equal(r.json.explain.action, 'up-to-date');
    assert.equal(r.json.explain.reasons[0].text, 'outputs match the cached result');
    rig.write({ 'a.txt': 'changed\n' });
    const changed = await served.api.get('/tasks/b');
    assert.equal(changed.json.explain.action, 'run');
    assert.match(changed.json.explain.reasons[0].text, /^input a.txt changed/);
    assert.equal((await served.api.get('/tasks/nope')).status, 404);
  });

  test('GET /cache, POST /cache/verify, POST /cache/gc, DELETE /cache', async () => {
    const stats = await served.api.get('/cache');
    assert.equal(stats.status, 200);
    assert.ok(stats.json.records >= 2);
    const verify = await served.api.post('/cache/verify', {});
    assert.equal(verify.status, 200);
    assert.equal((await served.api.post('/cache/verify', { repair: 'x' })).status, 400);
    const gc = await served.api.post('/cache/gc', { maxBytes: 1_000_000_000, dryRun: true });
    assert.equal(gc.status, 200);
    assert.equal(gc.json.dryRun, true);
    const noLimit = await served.api.post('/cache/gc', {});
    assert.equal(noLimit.status, 400);
    assert.equal((await served.api.post('/cache/gc', { maxBytes: -1 })).status, 400);
    const cleared = await served.api.request('DELETE', '/cache');
    assert.equal(cleared.status, 200);
    assert.ok(cleared.json.recordsRemoved >= 2);
    assert.equal((await served.api.get('/cache')).json.records, 0);
    assert.equal((await served.api.request('DELETE', '/cache?workspace=nope')).status, 404);
  });

  test('GET /metrics and /metrics/json count the runs', async () => {
    const r = await served.api.get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const name = JSON.parse((await served.api.get('/workspaces')).text).workspaces[0].name;
    assert.match(r.text, new RegExp(`reprovm_tasks_total\\{workspace="${name}",status="executed"\\} [1-9]`));
    assert.match(r.text, /reprovm_runs_total/);
    const j = await served.api.get('/metrics/json');
    assert.equal(j.status, 200);
    assert.ok(j.json.some((m: { name: string }) => m.name === 'reprovm_tasks_total'));
  });

  test('GET /health answers 200 with the checks', async () => {
    const r = await served.api.get('/health');
    assert.equal(r.status, 200);
    assert.notEqual(r.json.status, 'critical');
    assert.ok(r.json.checks.length > 0);
  });

  test('GET /config shows the effective configuration with secrets redacted', async () => {
    const r = await served.api.get('/config');
    assert.equal(r.status, 200);
    assert.equal(r.json.file, rig.path('reprovm.conf'));
    assert.equal(r.json.config.server.max_body_kb, 4);
    assert.equal(r.json.config.notifications.webhook_url, '***');
    assert.doesNotMatch(r.text, /canary-secret-4711/);
  });

  test('GET /schedules shows the next fire time', async () => {
    const r = await served.api.get('/schedules');
    assert.equal(r.status, 200);
    assert.equal(r.json.schedules.length, 1);
    const s = r.json.schedules[0];
    assert.equal(s.name, 'nightly');
    assert.deepEqual(s.targets, ['a']);
    assert.match(s.next, /T03:00:00\.000Z$/);
  });

  test('a run whose process fails before its tasks (a configuration broken since start) says why', async () => {
    rig.write({ 'reprovm.conf': CONFIG.replace('max_body_kb = 4', 'max_body_kb = 4\nmax_queue = lots') });
    try {
      const r = await served.api.post('/runs', { targets: ['a'] });
      const run = await runFinished(served.api, r.json.id);
      assert.equal(run.status, 'failed');
      assert.equal(run.exitCode, 2);
      assert.match(String(run.message), /reprovm\.conf:\d+.*max_queue/);
      assert.deepEqual(run.tasks, []);
    } finally {
      rig.write({ 'reprovm.conf': CONFIG });
    }
  });

  test('an unknown route is a 404 JSON error', async () => {
    const r = await served.api.get('/nope');
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'not-found');
  });

  test('every operation of openapi.yaml was exercised', () => {
    const seenOps = new Set([...checker.seen].map((s) => s.split(' ')[0]));
    const missing = checker.operations.map((o) => o.id).filter((id) => !seenOps.has(id));
    assert.deepEqual(missing, []);
  });
});
