/**
 * `reprovm serve` configured from `[server]`: several named workspaces with their own queues
 * and history, a schedule firing runs in the daemon, history pruned to history_limit, TLS,
 * and the request timeout cutting off a stalled request body.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { OpenApiChecker } from '../helpers/openapi.js';
import { ApiClient, runFinished, serveSuite, startServe, type ServerProcess } from '../helpers/openapi-server.js';
import { Rig, waitFor } from '../helpers/rig.js';

const manifest = (word: string): string => `task quick {
  cmd = echo ${word} > out.txt
  outputs = out.txt
}
`;

const CONFIG_TOKEN = 'config-admin-token-0123';

describe('serve: [server] workspaces, schedules, history_limit', () => {
  const served = serveSuite('reprovm-serve-config-', {
    files: {
      'one/manifest.txt': manifest('one'),
      'two/manifest.txt': manifest('two'),
      'reprovm.conf': [
        '[server]',
        'workspaces = first:one/manifest.txt second:two/manifest.txt',
        'history_limit = 2',
        'request_timeout_seconds = 1',
        '',
        '[notifications]',
        'on = never',
        '',
        '[schedule.every]',
        'cron = * * * * * *',
        'workspace = second',
        'targets = quick',
        '',
      ].join('\n'),
    },
    args: (r) => ['--config', r.path('reprovm.conf')],
    env: { REPROVM_SERVER_TOKEN: CONFIG_TOKEN },
    token: CONFIG_TOKEN,
  });
  const { rig } = served;

  test('each named workspace has its own tasks and runs; the first is the default', async () => {
    const ws = await served.api.get('/workspaces');
    assert.deepEqual(ws.json.workspaces.map((w: { name: string }) => w.name), ['first', 'second']);
    const r = await served.api.post('/runs', { targets: ['quick'] });
    assert.equal(r.json.workspace, 'first');
    assert.equal((await runFinished(served.api, r.json.id)).status, 'succeeded');
    assert.equal(rig.read('one/out.txt'), 'one\n');
    const firstRuns = await served.api.get('/runs?workspace=first');
    assert.ok(firstRuns.json.runs.every((x: { workspace: string }) => x.workspace === 'first'));
    assert.equal((await served.api.get('/tasks?workspace=second')).json.workspace, 'second');
  });

  test('a schedule fires runs in the daemon; GET /schedules shows it', async () => {
    await waitFor(() => rig.exists('two/out.txt'), 10_000, 'the scheduled run');
    const runs = await served.api.get('/runs?workspace=second');
    assert.ok(runs.json.runs.some((x: { trigger: string }) => x.trigger === 'schedule:every'));
    const s = (await served.api.get('/schedules')).json.schedules[0];
    assert.equal(s.name, 'every');
    assert.notEqual(s.lastFired, null);
  });

  test('history is pruned to history_limit per cache directory', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await served.api.post('/runs?workspace=first', { targets: ['quick'], force: true });
      await runFinished(served.api, r.json.id);
    }
    const runs = await served.api.get('/runs?workspace=first');
    assert.equal(runs.json.total, 2);
    assert.equal(readdirSync(rig.path('one/.reprovm/runs')).length, 2);
  });

  test('a stalled request body is cut off by the request timeout', async () => {
    const { port } = new URL(served.server.url);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(`POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CONFIG_TOKEN}\r\nContent-Length: 100\r\n\r\n{"tar`);
      });
      let got = '';
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      setTimeout(() => reject(new Error('not cut off')), 8000).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.ok(Date.now() - started < 5000);
  });
});

describe('serve: TLS', () => {
  const rig = new Rig('reprovm-serve-tls-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('tls_cert + tls_key serve HTTPS', async (t) => {
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', rig.path('key.pem'), '-out', rig.path('cert.pem'),
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    rig.write({ 'manifest.txt': manifest('tls'), 'reprovm.conf': '[server]\ntls_cert = cert.pem\ntls_key = key.pem\n' });
    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: { REPROVM_SERVER_TOKEN: 'tls-token-0123456789' } });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = rig.read('cert.pem');
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(`${server!.url}/api/v1/tasks`, { ca, headers: { authorization: 'Bearer tls-token-0123456789' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    new OpenApiChecker().check('GET', '/api/v1/tasks', status, 'application/json', body);
    assert.equal(JSON.parse(body).tasks[0].name, 'quick');
  });
});

describe('serve: health', () => {
  const rig = new Rig('reprovm-serve-health-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop('SIGTERM');
    rig.cleanup();
  });

  test('GET /health answers 503 when a check is critical (open without a token by default)', async () => {
    // The configured cache directory is a file: builds cannot work.
    rig.write({ 'manifest.txt': manifest('health'), 'not-a-dir': 'x', 'reprovm.conf': '[cache]\ncache_dir = not-a-dir\n\n[audit]\nenabled = 0\n' });
    server = await startServe(['manifest.txt'], { cwd: rig.dir, env: { REPROVM_SERVER_TOKEN: 'health-token-0123456789' } });
    const r = await new ApiClient(server.url, new OpenApiChecker()).get('/health');
    assert.equal(r.status, 503);
    assert.equal(r.json.status, 'critical');
    assert.ok(r.json.checks.some((c: { status: string; message: string }) => c.status === 'critical' && /not a directory/.test(c.message)));
  });

  test('GET /health checks the configured remote: a directory that exists is ok, a missing one is critical', async () => {
    await server?.stop('SIGTERM');
    const remoteRig = new Rig('reprovm-serve-health-remote-');
    try {
      remoteRig.write({ 'manifest.txt': manifest('remote'), 'remote/.keep': '', 'reprovm.conf': '[remote]\nurl = remote\n\n[audit]\nenabled = 0\n' });
      server = await startServe(['manifest.txt'], { cwd: remoteRig.dir });
      const api = new ApiClient(server.url, new OpenApiChecker());
      const remoteCheck = (r: { json: { checks: { name: string; status: string; message: string }[] } }) => r.json.checks.find((c) => c.name === 'remote');
      const ok = await api.get('/health');
      assert.equal(ok.status, 200, ok.text);
      assert.equal(remoteCheck(ok)?.status, 'ok', ok.text);
      assert.match(remoteCheck(ok)?.message ?? '', /dir .*remote is reachable and authorised/);
      rmSync(remoteRig.path('remote'), { recursive: true });
      // Answers are shared for a second: wait for a fresh one.
      await new Promise((r) => setTimeout(r, 1100));
      const gone = await api.get('/health');
      assert.equal(gone.status, 503, gone.text);
      assert.equal(remoteCheck(gone)?.status, 'critical', gone.text);
      assert.match(remoteCheck(gone)?.message ?? '', /does not exist/);
    } finally {
      await server?.stop('SIGTERM');
      server = undefined;
      remoteRig.cleanup();
    }
  });
});

describe('serve: bad schedules', () => {
  const rig = new Rig('reprovm-serve-badsched-');
  after(() => rig.cleanup());

  test('a schedule with a bad cron, an unknown workspace or an unknown target stops serve at start', async () => {
    const env = { REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf', REPROVM_SERVER_TOKEN: 'schedule-token-0123456789' };
    const cases: [string, RegExp][] = [
      ['cron = 61 * * * *\n', /\[schedule\.s\]: invalid cron expression "61 \* \* \* \*"/],
      ['cron = 0 3 * * *\nworkspace = nope\n', /\[schedule\.s\]: workspace "nope" is not served/],
      ['cron = 0 3 * * *\ntargets = quik\n', /\[schedule\.s\]: unknown target "quik" \(did you mean "quick"\?\)/],
    ];
    for (const [entry, message] of cases) {
      rig.write({ 'manifest.txt': manifest('x'), 'reprovm.conf': `[schedule.s]\n${entry}` });
      const r = await rig.run(['serve', '--port', '0', 'manifest.txt'], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
