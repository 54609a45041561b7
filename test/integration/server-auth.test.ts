/**
 * `reprovm serve` authentication and authorisation: the role matrix over every operation (no
 * token, a bad token, each role), the audit of state-changing requests (token names, never
 * tokens), token sources (config sections, token file, environment, flag), SIGHUP reload of
 * tokens and open routes, and the refusal to serve a non-loopback address without tokens.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { OpenApiChecker } from '../helpers/openapi.js';
import { ApiClient, serveSuite, startServe } from '../helpers/openapi-server.js';
import { Rig, waitFor } from '../helpers/rig.js';

const sha = (t: string): string => createHash('sha256').update(t).digest('hex');

const MANIFEST = `task quick {
  cmd = echo q > q.txt
  outputs = q.txt
}
`;
const TOKENS = { reader: 'tok-reader-aaaa', runner: 'tok-runner-bbbb', adm: 'tok-admin-cccc', flag: 'tok-flag-dddd-0123456789' };
const config = (extra = ''): string => `[server]
token_file = tokens.txt
open_metrics = ${extra.includes('open') ? 1 : 0}

[notifications]
on = never

[token.reader]
role = read
sha256 = ${sha(TOKENS.reader)}

[token.runner]
role = run
sha256 = ${sha(TOKENS.runner)}
`;

type Need = 'read' | 'run' | 'admin' | 'open';
const RANK = { read: 0, run: 1, admin: 2 } as const;
const UNKNOWN_RUN = '20200101-000000000-abcdef';
const ROUTES: { method: string; path: string; body?: unknown; need: Need }[] = [
  { method: 'GET', path: '/workspaces', need: 'read' },
  { method: 'GET', path: '/tasks', need: 'read' },
  { method: 'POST', path: '/tasks', body: { targets: ['quick'] }, need: 'run' },
  { method: 'GET', path: '/tasks/quick', need: 'read' },
  { method: 'GET', path: '/runs', need: 'read' },
  { method: 'POST', path: '/runs', body: { targets: ['quick'] }, need: 'run' },
  { method: 'GET', path: `/runs/${UNKNOWN_RUN}`, need: 'read' },
  { method: 'GET', path: `/runs/${UNKNOWN_RUN}/events`, need: 'read' },
  { method: 'GET', path: `/runs/${UNKNOWN_RUN}/logs/quick`, need: 'read' },
  { method: 'POST', path: `/runs/${UNKNOWN_RUN}/cancel`, need: 'run' },
  { method: 'GET', path: '/cache', need: 'read' },
  { method: 'DELETE', path: '/cache', need: 'admin' },
  { method: 'POST', path: '/cache/verify', body: {}, need: 'run' },
  { method: 'POST', path: '/cache/gc', body: { maxBytes: 1e9, dryRun: true }, need: 'admin' },
  { method: 'GET', path: '/metrics', need: 'read' },
  { method: 'GET', path: '/metrics/json', need: 'read' },
  { method: 'GET', path: '/health', need: 'open' },
  { method: 'GET', path: '/config', need: 'admin' },
  { method: 'GET', path: '/schedules', need: 'read' },
];

describe('serve: auth', () => {
  const served = serveSuite('reprovm-serve-auth-', {
    files: { 'manifest.txt': MANIFEST, 'reprovm.conf': config(), 'tokens.txt': `# name role sha256\nadm admin ${sha(TOKENS.adm)}\n` },
    args: ['manifest.txt', '--token', TOKENS.flag],
  });
  const { rig } = served;

  test('role matrix: no token and bad tokens 401, too weak a role 403, enough passes', async () => {
    const identities: { who: string; token?: string; role?: 'read' | 'run' | 'admin' }[] = [
      { who: 'none' },
      { who: 'bad', token: 'not-a-token' },
      { who: 'reader', token: TOKENS.reader, role: 'read' },
      { who: 'runner', token: TOKENS.runner, role: 'run' },
      { who: 'adm', token: TOKENS.adm, role: 'admin' },
      { who: 'flag', token: TOKENS.flag, role: 'admin' },
    ];
    for (const route of ROUTES) {
      for (const id of identities) {
        const r = await served.api.withToken(id.token).request(route.method, route.path, route.body === undefined ? {} : { body: route.body });
        const what = `${id.who} ${route.method} ${route.path} → ${r.status} ${r.text.slice(0, 120)}`;
        if (route.need === 'open') assert.equal(r.status, 200, what);
        else if (id.role === undefined) {
          assert.equal(r.status, 401, what);
          assert.equal(r.json.error.code, 'unauthorized', what);
          assert.equal(r.headers.get('www-authenticate'), 'Bearer', what);
        } else if (RANK[id.role] < RANK[route.need]) {
          assert.equal(r.status, 403, what);
          assert.equal(r.json.error.code, 'forbidden', what);
        } else assert.ok(![401, 403].includes(r.status), what);
      }
    }
  });

  test('cache repair needs the admin role', async () => {
    const r = await served.api.withToken(TOKENS.runner).post('/cache/verify', { repair: true });
    assert.equal(r.status, 403);
    assert.match(r.json.error.message, /admin/);
  });

  test('state-changing requests are audited with the token name, never the token; bad tokens too', async () => {
    await served.api.withToken(TOKENS.runner).post('/runs', { targets: ['quick'] });
    const text = readFileSync(rig.path('.reprovm/audit.log'), 'utf8');
    const entries = text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> });
    const requests = entries.filter((e) => e.type === 'api.request');
    assert.ok(requests.some((e) => e.details.token === 'runner' && e.details.route === '/api/v1/runs' && e.details.status === 202));
    assert.ok(requests.some((e) => e.details.token === 'adm' && e.details.method === 'DELETE'));
    assert.ok(requests.some((e) => e.details.token === null && e.details.status === 401));
    assert.ok(!requests.some((e) => e.details.method === 'GET'), 'reads are not audited');
    assert.ok(entries.some((e) => e.type === 'security.bad-token'));
    for (const t of Object.values(TOKENS)) assert.ok(!text.includes(t), `token ${t} leaked into the audit log`);
    assert.ok(!served.server.stderr().includes(TOKENS.flag));
  });

  test('SIGHUP reloads tokens and open routes', async () => {
    const late = 'tok-late-eeee';
    assert.equal((await served.api.withToken(late).get('/config')).status, 401);
    assert.equal((await served.api.get('/metrics')).status, 401);
    rig.write({ 'tokens.txt': `adm admin ${sha(TOKENS.adm)}\nlate admin ${sha(late)}\n`, 'reprovm.conf': config('open') });
    served.server.child.kill('SIGHUP');
    await waitFor(() => served.server.stderr().includes('configuration reloaded'), 10_000, 'the reload');
    assert.equal((await served.api.withToken(late).get('/config')).status, 200);
    assert.equal((await served.api.get('/metrics')).status, 200);
    // A broken configuration is refused and the old one stays.
    rig.write({ 'tokens.txt': 'late superuser 1234\n' });
    served.server.child.kill('SIGHUP');
    await waitFor(() => served.server.stderr().includes('configuration not reloaded'), 10_000, 'the refused reload');
    assert.match(served.server.stderr(), /tokens\.txt:1: expected "NAME ROLE SHA256"/);
    assert.equal((await served.api.withToken(late).get('/config')).status, 200);
  });
});

describe('serve: token configuration', () => {
  const rig = new Rig('reprovm-serve-tokens-');
  after(() => rig.cleanup());

  test('without any token: refuses a non-loopback address; on loopback anonymous callers may only read', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' });
    const refused = await rig.run(['serve', '--host', '0.0.0.0', '--port', '0', 'manifest.txt'], { env: { REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf' } });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /no API token is configured, so serving on 0\.0\.0\.0/);
    const open = await startServe(['manifest.txt'], { cwd: rig.dir });
    try {
      const api = new ApiClient(open.url, new OpenApiChecker());
      assert.equal((await api.get('/workspaces')).status, 200);
      assert.equal((await api.get('/tasks')).status, 200);
      for (const [method, route, body] of [['POST', '/runs', { targets: ['quick'] }], ['DELETE', '/cache', undefined], ['POST', '/cache/gc', { dryRun: true }]] as const) {
        const r = await api.request(method, route, body === undefined ? {} : { body });
        assert.equal(r.status, 401, `${method} ${route}: ${r.text}`);
        assert.equal(r.json.error.code, 'unauthorized');
        assert.match(r.json.error.message, /no API token is configured.*REPROVM_SERVER_TOKEN/);
      }
      assert.equal((await api.get('/config')).status, 401);
      assert.equal(rig.exists('q.txt'), false);
      assert.match(open.stderr(), /no API token is configured: requests from this machine may only read/);
    } finally {
      await open.stop('SIGTERM');
    }
  });

  test('a plain token shorter than 16 characters is refused at start, from the flag or the environment', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[notifications]\non = never\n' });
    const env = { REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf' };
    const flag = await rig.run(['serve', '--port', '0', '--token', 'short-token', 'manifest.txt'], { env });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--token: the token has 11 characters; use at least 16/);
    assert.ok(!flag.stderr.includes('short-token'));
    const fromEnv = await rig.run(['serve', '--port', '0', 'manifest.txt'], { env: { ...env, REPROVM_SERVER_TOKEN: 'abc' } });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /REPROVM_SERVER_TOKEN: the token has 3 characters; use at least 16/);
  });

  test('a malformed token file or sha256 is a startup error naming the place', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[server]\ntoken_file = t.txt\n', 't.txt': 'x admin nothex\n' });
    const bad = await rig.run(['serve', '--port', '0', 'manifest.txt'], { env: { REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /t\.txt:1: expected "NAME ROLE SHA256"/);
    rig.write({ 'reprovm.conf': '[token.ci]\nrole = run\nsha256 = abc\n' });
    const bad2 = await rig.run(['serve', '--port', '0', 'manifest.txt'], { env: { REPROVM_SYSTEM_CONFIG: '/nonexistent/reprovm.conf' } });
    assert.equal(bad2.code, 2);
    assert.match(bad2.stderr, /\[token\.ci\]: sha256 must be the 64-digit hex SHA-256/);
  });
});
