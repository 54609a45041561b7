import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { startServe, type ServerProcess } from '../helpers/openapi-server.js';
import { Rig, waitFor } from '../helpers/rig.js';

const OK = 'task ok {\n  cmd = echo ok > ok.txt\n  outputs = ok.txt\n}\n';

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

type LogLine = { level: string; msg: string };

function logLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trimEnd().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogLine);
}

describe('run diagnostics go through the logger', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig('reprovm-logwarn-');
  });
  afterEach(() => rig.cleanup());

  test('a failed webhook is a JSON line in --log-file and hidden by --log-level error', async () => {
    const port = await closedPort();
    rig.write({
      'm.txt': OK,
      'reprovm.conf': `[notifications]\non = always\nwebhook_url = http://127.0.0.1:${port}/hook\nretries = 0\ntimeout_seconds = 2\n`,
    });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('none.conf'), REPROVM_NOTIFY_BACKOFF_MS: '10' };
    const shown = await rig.run(['-q', '--log-file', 'logs/a.log', 'm.txt'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /^reprovm: warning: the webhook notification failed: /m);
    const lines = logLines(rig.path('logs/a.log'));
    const line = lines.find((l) => /notification failed/.test(l.msg));
    assert.ok(line, JSON.stringify(lines));
    assert.equal(line.level, 'warning');

    const hidden = await rig.run(['-q', '-f', '--log-level', 'error', '--log-file', 'logs/b.log', 'm.txt'], { env });
    assert.equal(hidden.code, 0, hidden.stderr);
    assert.doesNotMatch(hidden.stderr, /notification failed/);
    assert.ok(!logLines(rig.path('logs/b.log')).some((l) => /notification failed/.test(l.msg)));
  });

  test('a failed automatic backup is logged (REPROVM_LOG_LEVEL in upper case hides it)', async () => {
    rig.write({ 'm.txt': OK, 'reprovm.conf': '[backup]\nauto_backup = true\nlocation = nosuch://bucket/x\n' });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('none.conf') };
    const shown = await rig.run(['-q', '--log-file', 'logs/a.log', 'm.txt'], { env });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /^reprovm: warning: automatic backup failed: /m);
    assert.ok(logLines(rig.path('logs/a.log')).some((l) => l.level === 'warning' && /automatic backup failed/.test(l.msg)));

    const hidden = await rig.run(['-q', '-f', 'm.txt'], { env: { ...env, REPROVM_LOG_LEVEL: 'ERROR' } });
    assert.equal(hidden.code, 0, hidden.stderr);
    assert.doesNotMatch(hidden.stderr, /automatic backup failed/);
  });

  test('a misspelt REPROVM_<SECTION>_<KEY> variable is warned about with a suggestion', async () => {
    rig.write({ 'm.txt': OK });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('none.conf'), REPROVM_EXECUTION_JBOS: '3', REPROVM_SPAWNER: 'node', REPROVM_CACHE_SIGNING_KEY: 'k3y-value' };
    const r = await rig.run(['-q', 'm.txt'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      'reprovm: warning: environment variable REPROVM_EXECUTION_JBOS: no such key in [execution] (did you mean REPROVM_EXECUTION_PARALLEL_JOBS?); it is ignored\n',
    );
  });
});

describe('reprovm notify test takes the common configuration options', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig('reprovm-logwarn-');
  });
  afterEach(() => rig.cleanup());

  test('unknown keys are warned about, --log-file records them, --log-level error hides them', async () => {
    const port = await closedPort();
    rig.write({ 'reprovm.conf': `[notifications]\nwebhook_url = http://127.0.0.1:${port}/hook\nretries = 0\nretires = 2\n` });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('none.conf') };
    const r = await rig.run(['notify', 'test', '--log-file', 'n.log'], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /unknown key "retires" in \[notifications\] \(did you mean "retries"\?\)/);
    assert.ok(logLines(rig.path('n.log')).some((l) => l.level === 'warning' && /retires/.test(l.msg)));
    const quiet = await rig.run(['notify', 'test', '--log-level', 'error'], { env });
    assert.equal(quiet.code, 1);
    assert.equal(quiet.stderr, '');
  });

  test('a bad value is a configuration error (exit 2); a bad REPROVM_NOTIFY_BACKOFF_MS is a warning', async () => {
    rig.write({ 'reprovm.conf': '[notifications]\nwebhook_url = http://127.0.0.1:9/hook\nretries = many\n' });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('none.conf') };
    const bad = await rig.run(['notify', 'test'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^reprovm: error: .*reprovm\.conf:3: .*retries/m);

    const port = await closedPort();
    rig.write({ 'reprovm.conf': `[notifications]\nwebhook_url = http://127.0.0.1:${port}/hook\nretries = 1\n` });
    const r = await rig.run(['notify', 'test'], { env: { ...env, REPROVM_NOTIFY_BACKOFF_MS: 'soon' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /reprovm: warning: environment variable REPROVM_NOTIFY_BACKOFF_MS: invalid value "soon"/);
    assert.match(r.stdout, /failed: .*\(2 attempts\)/);
  });
});

describe('reprovm serve logs its warnings through the logger', () => {
  const rig = new Rig('reprovm-logwarn-');
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop('SIGKILL');
    rig.cleanup();
  });

  test('startup and reload warnings land in --log-file as JSON lines', async () => {
    rig.write({ 'm.txt': OK, 'reprovm.conf': '[server]\nmax_qeueu = 3\n' });
    server = await startServe(['m.txt', '--log-file', 'logs/serve.log'], { cwd: rig.dir });
    const running = server;
    await waitFor(() => /^reprovm: warning: .*unknown key "max_qeueu"/m.test(running.stderr()), 10_000, 'the unknown-key warning');
    const startup = logLines(rig.path('logs/serve.log'));
    assert.ok(startup.some((l) => l.level === 'warning' && /max_qeueu/.test(l.msg)), JSON.stringify(startup));
    assert.ok(startup.some((l) => l.level === 'warning' && /no API token is configured/.test(l.msg)), JSON.stringify(startup));
    rig.write({ 'reprovm.conf': '[server]\nmax_queue = many\n' });
    server.child.kill('SIGHUP');
    await waitFor(() => logLines(rig.path('logs/serve.log')).some((l) => /configuration not reloaded/.test(l.msg)), 10_000, 'the rejected reload');
    // The log file and our end of the stderr pipe are written independently: wait for both.
    const reloaded = server;
    await waitFor(() => /^reprovm: warning: configuration not reloaded/m.test(reloaded.stderr()), 10_000, 'the rejected reload on stderr');
  });

  test('--log-level error hides the warnings of serve', async () => {
    await server?.stop('SIGKILL');
    rig.write({ 'reprovm.conf': '[server]\nmax_qeueu = 3\n' });
    server = await startServe(['m.txt', '--log-level', 'error'], { cwd: rig.dir });
    assert.equal(server.stderr(), '');
  });
});
