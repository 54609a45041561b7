import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ObjectStore } from '../../src/cas/object-store.js';
import type { RunEvent } from '../../src/events/events.js';
import type { FileDigest } from '../../src/hash/digest.js';
import { startFaultProxy, type FaultMatch, type FaultProxy, type ProxyFault } from '../helpers/fault-proxy.js';
import { collect, Rig } from '../helpers/rig.js';
import { S3RVER_ENV, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

/*
 * The build-level fault matrix: a real s3rver behind a fault-injecting proxy, the real CLI.
 * Whatever the remote does, the build succeeds with the right outputs, no bad byte reaches the
 * local CAS, and each kind of trouble is one warning.
 */

const N = 8;
const MANIFEST = Array.from({ length: N }, (_, i) => `task t${i} {\n  cmd = head -c ${200_000 + i} /dev/urandom > o${i}.bin && echo done ${i}\n  outputs = o${i}.bin\n}\n`).join('');

let server: S3rverHandle;
let proxy: FaultProxy;
const rigs: Rig[] = [];
let seeded: Rig;
const BUCKET = `reprovm-faults-${process.pid}`;

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...S3RVER_ENV,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  REPROVM_REMOTE_CONNECT_TIMEOUT_SECONDS: '1',
  REPROVM_REMOTE_REQUEST_TIMEOUT_SECONDS: '1',
  REPROVM_REMOTE_RETRIES: '1',
  ...extra,
});

function machine(): Rig {
  const rig = new Rig('reprovm-remote-fault-');
  rigs.push(rig);
  rig.write({ 'manifest.txt': MANIFEST });
  return rig;
}

const flagsFor = (endpoint: string): string[] => ['--remote', `s3://${BUCKET}/p`, '--remote-endpoint', endpoint];

before(async () => {
  server = await startS3rver();
  proxy = await startFaultProxy(server.port);
  seeded = machine();
  const init = await seeded.run(['cache', 'init-remote', ...flagsFor(server.endpoint)], { env: env() });
  assert.equal(init.code, 0, init.stderr);
  // Machine A fills the remote (random outputs: B can only get them from the remote or by re-running).
  const r = await seeded.run(['--json', ...flagsFor(server.endpoint), 'manifest.txt'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await proxy.stop();
  await server.stop();
  for (const r of rigs) r.cleanup();
});

interface Outcome {
  readonly evs: RunEvent[];
  readonly kinds: string[];
  readonly rig: Rig;
  readonly ms: number;
}

async function buildThrough(endpoint: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const rig = machine();
  const t0 = performance.now();
  const r = await rig.run(['--json', '-j', '4', ...flagsFor(endpoint), 'manifest.txt'], { env: env(extraEnv), timeoutMs: 120_000 });
  const ms = performance.now() - t0;
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout.slice(-2000)}`);
  const evs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunEvent);
  const kinds = evs.flatMap((e) => (e.type === 'warning' && e.remote ? [e.remote.kind] : []));
  for (let i = 0; i < N; i++) assert.ok(rig.exists(`o${i}.bin`), `o${i}.bin`);
  // Each output is either A's (restored) or freshly made (re-run): never anything else.
  const store = new ObjectStore(rig.path('.reprovm'), { codec: 'zstd', level: 3 });
  for await (const d of store.list()) assert.ok((await store.verify(d as FileDigest)).ok, `bad local object ${d}`);
  await store.close();
  assert.deepEqual(readdirSync(rig.path('.reprovm/cas/quarantine')), []);
  assert.deepEqual(readdirSync(rig.path('.reprovm/cas/tmp')), []);
  return { evs, kinds, rig, ms };
}

function restoredFromRemote(o: Outcome): number {
  return o.evs.filter((e) => e.type === 'task-finished' && e.cache?.result === 'hit' && e.cache.source === 'remote').length;
}

/**
 * An outage is reported as "unavailable" (a request failed after its retries) and/or "breaker"
 * (the breaker opened, possibly before any request ran out of retries): each at most once.
 */
function outage(kinds: string[]): void {
  assert.ok(kinds.length >= 1 && kinds.every((k) => k === 'unavailable' || k === 'breaker'), JSON.stringify(kinds));
  assert.equal(new Set(kinds).size, kinds.length, `no kind twice: ${JSON.stringify(kinds)}`);
}

function once(kinds: string[], kind: string): void {
  assert.equal(kinds.filter((k) => k === kind).length, 1, `one "${kind}" warning: ${JSON.stringify(kinds)}`);
  assert.equal(new Set(kinds).size, kinds.length, `no kind twice: ${JSON.stringify(kinds)}`);
}

const cas: FaultMatch = (req) => req.method === 'GET' && (req.url ?? '').includes('/cas/');
const every: FaultMatch = () => true;

describe('remote faults never fail a build', () => {
  test('through the proxy without faults, B restores everything from the remote', async () => {
    await proxy.setFault(undefined);
    const o = await buildThrough(proxy.endpoint);
    assert.equal(restoredFromRemote(o), N);
    assert.deepEqual(o.kinds, []);
    for (let i = 0; i < N; i++) assert.deepEqual(readFileSync(o.rig.path(`o${i}.bin`)), readFileSync(seeded.path(`o${i}.bin`)));
  });

  test('server down (connection refused)', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const o = await buildThrough(`http://127.0.0.1:${port}`);
    assert.equal(restoredFromRemote(o), 0);
    outage(o.kinds);
  });

  const matrix: [string, ProxyFault, FaultMatch, string[]][] = [
    ['server hangs', { mode: 'hang' }, every, ['outage']],
    ['500', { mode: 'status', status: 500 }, every, ['outage']],
    ['503', { mode: 'status', status: 503 }, every, ['outage']],
    ['429', { mode: 'status', status: 429 }, every, ['outage']],
    ['401', { mode: 'status', status: 401 }, every, ['auth']],
    ['403', { mode: 'status', status: 403 }, every, ['auth']],
    ['truncated body', { mode: 'truncate' }, cas, ['integrity', 'outage']],
    ['wrong bytes', { mode: 'corrupt' }, cas, ['integrity']],
    ['reset mid-body', { mode: 'reset' }, cas, ['outage', 'integrity']],
  ];
  for (const [name, fault, match, expected] of matrix) {
    test(name, async () => {
      await proxy.setFault(fault, match);
      try {
        const o = await buildThrough(proxy.endpoint);
        assert.equal(restoredFromRemote(o), 0, 'nothing restored from a faulty remote');
        const isOutage = o.kinds.length > 0 && o.kinds.every((k) => k === 'unavailable' || k === 'breaker');
        if (isOutage && expected.includes('outage')) outage(o.kinds);
        else {
          assert.equal(o.kinds.length, 1, `exactly one warning: ${JSON.stringify(o.kinds)}`);
          assert.ok(expected.includes(o.kinds[0]!), `${o.kinds[0]} in ${expected.join('|')}`);
        }
      } finally {
        await proxy.setFault(undefined);
      }
    });
  }

  test('a record whose body is cut off by a reset is read again (records are read whole), and restored', async () => {
    // One record GET is reset half-way through its body (more would open the breaker: each
    // failed attempt counts toward it).
    await proxy.setFault({ mode: 'reset', times: 1 }, (req) => req.method === 'GET' && /\/ac\//.test(req.url ?? ''));
    proxy.resetCount();
    try {
      const o = await buildThrough(proxy.endpoint);
      assert.equal(restoredFromRemote(o), N, 'every task restored from the remote');
      assert.deepEqual(o.kinds, [], 'a retried request that succeeds is no warning');
      for (let i = 0; i < N; i++) assert.deepEqual(readFileSync(o.rig.path(`o${i}.bin`)), readFileSync(seeded.path(`o${i}.bin`)));
      assert.equal(proxy.log.filter((l) => /^GET \S*\/ac\//.test(l)).length, N + 1, 'the cut record was asked again');
    } finally {
      await proxy.setFault(undefined);
    }
  });

  test('breaker: after the threshold the remote is not called for the rest of the run; one warning', async () => {
    await proxy.setFault({ mode: 'status', status: 503 }, every);
    proxy.resetCount();
    try {
      const o = await buildThrough(proxy.endpoint, { REPROVM_REMOTE_BREAKER_THRESHOLD: '2', REPROVM_REMOTE_UPLOAD_CONCURRENCY: '1' });
      once(o.kinds, 'breaker');
      // Without the breaker: N lookups and N uploads, each tried twice (REPROVM_REMOTE_RETRIES=1) = 4N requests.
      // With it: the 2 failures that open it, plus at most one upload check that started before, each tried twice.
      assert.ok(proxy.requests <= 6, `requests: ${proxy.log.join(', ')}`);
    } finally {
      await proxy.setFault(undefined);
    }
  });

  test('remote lookups run a bounded distance ahead of execution', async () => {
    await proxy.setFault(undefined);
    const rig = machine();
    const tasks = 40;
    rig.write({ 'manifest.txt': Array.from({ length: tasks }, (_, i) => `task d${i} {\n  cmd = sleep 0.3 && echo ${i} > d${i}.txt\n  outputs = d${i}.txt\n}\n`).join('') });
    const lookups = (): number => proxy.log.filter((l) => /^GET \S*\/ac\//.test(l)).length;
    proxy.resetCount();
    const child = rig.spawn(['--json', '-j', '2', ...flagsFor(proxy.endpoint), 'manifest.txt'], { env: env() });
    // When the first task has finished, at most max(2 × jobs, 16) = 16 tasks can have asked the
    // remote (their slots are held until they finish), plus the one that just took the freed slot.
    let atFirstFinish: number | undefined;
    child.stdout?.on('data', (d: Buffer) => {
      if (atFirstFinish === undefined && d.toString().includes('"task-finished"')) atFirstFinish = lookups();
    });
    const r = await collect(child);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(atFirstFinish !== undefined && atFirstFinish <= 17, `record lookups when the first task finished: ${atFirstFinish}`);
    assert.equal(lookups(), tasks, 'every task asked the remote once');
  });

  test('the run waits for slow uploads with a progress line, and they all arrive', async () => {
    await proxy.setFault({ mode: 'delay', ms: 300 }, (req) => req.method === 'PUT');
    try {
      const rig = machine();
      rig.write({ 'manifest.txt': MANIFEST.replaceAll('/dev/urandom', '/dev/zero') });
      const r = await rig.run(['-j', '4', ...flagsFor(proxy.endpoint), 'manifest.txt'], { env: env({ REPROVM_REMOTE_UPLOAD_CONCURRENCY: '2' }) });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^reprovm: waiting for \d+ uploads to the remote cache s3:\/\/reprovm-faults-\d+\/p \(endpoint http:\/\/127\.0\.0\.1:\d+\)\.\.\.$/m);
      assert.match(r.stderr, new RegExp(`^reprovm: uploaded ${N} tasks \\(${N} blobs, [\\d.]+ MB\\) to the remote cache$`, 'm'));
      assert.doesNotMatch(r.stderr, /\r|\x1b/, 'plain lines off a terminal');
      assert.match(r.stdout, new RegExp(`; remote: 0 hits, 0 B down, [\\d.]+ [KM]iB up`));
    } finally {
      await proxy.setFault(undefined);
    }
  });

  test('Ctrl-C while uploads are pending: exit 130, and no record in the bucket lacks a blob', async () => {
    const bucket = `reprovm-int-${process.pid}`;
    const direct = ['--remote', `s3://${bucket}/p`, '--remote-endpoint', server.endpoint];
    const rig = machine();
    assert.equal((await rig.run(['cache', 'init-remote', ...direct], { env: env() })).code, 0);
    await proxy.setFault({ mode: 'delay', ms: 1500 }, (req) => req.method === 'PUT');
    try {
      const child = rig.spawn(['-j', '4', '--remote', `s3://${bucket}/p`, '--remote-endpoint', proxy.endpoint, 'manifest.txt'], {
        env: env({ REPROVM_REMOTE_UPLOAD_CONCURRENCY: '3' }),
      });
      let stderr = '';
      await new Promise<void>((resolve) => {
        child.stderr?.setEncoding('utf8').on('data', (c: string) => {
          stderr += c;
          if (/waiting for \d+ uploads/.test(stderr)) resolve();
        });
      });
      child.kill('SIGINT');
      const r = await collect(child, 30_000);
      assert.equal(r.code, 130, stderr + r.stderr);
    } finally {
      await proxy.setFault(undefined);
    }
    // Every record that made it has all its blobs (cache verify --remote checks exactly that).
    const verify = await rig.run(['cache', 'verify', '--remote', `s3://${bucket}/p`, '--json'], { env: env({ REPROVM_REMOTE_ENDPOINT: server.endpoint }) });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual((JSON.parse(verify.stdout) as { problems: unknown[] }).problems, []);
  });
});
