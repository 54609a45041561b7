import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { RunEvent } from '../../src/events/events.js';
import { pushMetrics, pushUrl, PushError, PushgatewayReporter, safeUrl } from '../../src/report/metrics-push.js';
import { createMetrics, OTHER_TASK } from '../../src/report/metrics-reporter.js';

const T = '2026-01-01T00:00:00.000Z';

function finished(task: string, status: 'executed' | 'cached' | 'failed' | 'skipped', extra: Partial<Extract<RunEvent, { type: 'task-finished' }>> = {}): RunEvent {
  return { type: 'task-finished', time: T, task, status, durationMs: 1500, ...extra };
}

const runFinished = (exitCode: number, wallMs: number, interrupted = false): RunEvent => ({
  type: 'run-finished',
  time: T,
  runId: 'r1',
  exitCode,
  summary: { total: 3, executed: 1, cached: 1, upToDate: 0, failed: 1, skipped: 0, wallMs, savedMs: 0, interrupted },
});

/** The value of one series in the text format, or undefined if absent. */
function series(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics reporter', () => {
  test('counts tasks, cache lookups, durations and runs from events', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const r = m.reporter('/ws');
    r.onEvent(finished('build', 'executed', { cache: { result: 'miss', reason: 'no-record' } }));
    r.onEvent(finished('test', 'cached', { durationMs: 20, cache: { result: 'hit', source: 'local', upToDate: false, bytesRestored: 10, filesRestored: 1, savedMs: 900 } }));
    r.onEvent(finished('lint', 'failed', { cache: { result: 'miss', reason: 'forced' } }));
    r.onEvent(finished('pkg', 'skipped', { skippedBecause: 'lint' }));
    r.onEvent({ type: 'task-output', time: T, task: 'build', stream: 'stdout', line: 'x', replay: false });
    r.onEvent(runFinished(1, 2500));
    const text = await m.registry.metrics();
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="/ws",status="executed"'), 1);
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="/ws",status="cached"'), 1);
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="/ws",status="failed"'), 1);
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="/ws",status="skipped"'), 1);
    assert.equal(series(text, 'reprovm_cache_lookups_total', 'workspace="/ws",result="miss",source="none",reason="no-record"'), 1);
    assert.equal(series(text, 'reprovm_cache_lookups_total', 'workspace="/ws",result="miss",source="none",reason="forced"'), 1);
    assert.equal(series(text, 'reprovm_cache_lookups_total', 'workspace="/ws",result="hit",source="local",reason="none"'), 1);
    assert.equal(series(text, 'reprovm_task_duration_seconds_sum', 'workspace="/ws",task="build",status="executed"'), 1.5);
    assert.equal(series(text, 'reprovm_task_duration_seconds_sum', 'workspace="/ws",task="test",status="cached"'), 0.02);
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', 'workspace="/ws",task="pkg",status="skipped"'), undefined);
    assert.equal(series(text, 'reprovm_task_duration_seconds_bucket', 'le="2.5",workspace="/ws",task="build",status="executed"'), 1);
    assert.equal(series(text, 'reprovm_task_duration_seconds_bucket', 'le="1",workspace="/ws",task="build",status="executed"'), 0);
    assert.equal(series(text, 'reprovm_runs_total', 'workspace="/ws",status="failed"'), 1);
    assert.equal(series(text, 'reprovm_run_duration_seconds_sum', 'workspace="/ws",status="failed"'), 2.5);
    assert.doesNotMatch(text, /^process_/m, 'no default metrics when switched off');
  });

  test('run status: succeeded, failed, interrupted', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const r = m.reporter('w');
    r.onEvent(runFinished(0, 10));
    r.onEvent(runFinished(0, 10));
    r.onEvent(runFinished(130, 10, true));
    const text = await m.registry.metrics();
    assert.equal(series(text, 'reprovm_runs_total', 'workspace="w",status="succeeded"'), 2);
    assert.equal(series(text, 'reprovm_runs_total', 'workspace="w",status="interrupted"'), 1);
    assert.equal(series(text, 'reprovm_runs_total', 'workspace="w",status="failed"'), undefined);
  });

  test('workspaces get their own series', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.reporter('a').onEvent(finished('t', 'executed'));
    m.reporter('b').onEvent(finished('t', 'executed'));
    m.reporter('b').onEvent(finished('u', 'executed'));
    const text = await m.registry.metrics();
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="a",status="executed"'), 1);
    assert.equal(series(text, 'reprovm_tasks_total', 'workspace="b",status="executed"'), 2);
  });

  test('the task label is bounded per workspace', async () => {
    const m = createMetrics({ defaultMetrics: false, maxTaskLabels: 2 });
    const r = m.reporter('w');
    for (const t of ['a', 'b', 'c', 'd', 'a']) r.onEvent(finished(t, 'executed'));
    m.reporter('v').onEvent(finished('z', 'executed'));
    const text = await m.registry.metrics();
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', 'workspace="w",task="a",status="executed"'), 2);
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', 'workspace="w",task="b",status="executed"'), 1);
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', `workspace="w",task="${OTHER_TASK}",status="executed"`), 2);
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', 'workspace="w",task="c",status="executed"'), undefined);
    assert.equal(series(text, 'reprovm_task_duration_seconds_count', 'workspace="v",task="z",status="executed"'), 1, 'the bound is per workspace');
  });

  test('remote bytes from remote-transfer events; remote hits by source', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const r = m.reporter('w');
    const transfer = (direction: 'upload' | 'download', bytes: number): RunEvent => ({ type: 'remote-transfer', time: T, direction, task: 'a', key: 'k', blobs: 1, bytes, durationMs: 3 });
    r.onEvent(transfer('download', 700));
    r.onEvent(finished('a', 'cached', { cache: { result: 'hit', source: 'remote', upToDate: false, bytesRestored: 700, filesRestored: 2, savedMs: 5, bytesDownloaded: 700 } }));
    r.onEvent(transfer('upload', 300));
    r.onEvent(transfer('download', 50));
    const text = await m.registry.metrics();
    assert.equal(series(text, 'reprovm_remote_bytes_total', 'workspace="w",direction="upload"'), 300);
    assert.equal(series(text, 'reprovm_remote_bytes_total', 'workspace="w",direction="download"'), 750);
    assert.equal(series(text, 'reprovm_cache_lookups_total', 'workspace="w",result="hit",source="remote",reason="none"'), 1);
  });

  test('gauges: CAS stats and queue depth; default metrics on by default', async () => {
    const m = createMetrics();
    m.setCasStats({ objects: 12, bytes: 3456 });
    m.setQueueDepth('w', 3);
    m.setQueueDepth('w', 2);
    const text = await m.registry.metrics();
    assert.match(text, /^reprovm_cas_objects 12$/m);
    assert.match(text, /^reprovm_cas_bytes 3456$/m);
    assert.equal(series(text, 'reprovm_queue_depth', 'workspace="w"'), 2);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);
  });
});

describe('pushgateway', () => {
  let server: Server;
  let base: string;
  const received: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];
  let status = 200;
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, type: req.headers['content-type'], body });
        res.writeHead(status).end(status === 200 ? '' : 'bad push\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('push URL: grouping labels, base64 for values with a slash', () => {
    assert.equal(pushUrl({ url: 'http://gw:9091/', job: 'reprovm', instance: 'ci-7' }), 'http://gw:9091/metrics/job/reprovm/instance/ci-7');
    assert.equal(pushUrl({ url: 'http://gw:9091', job: 'a/b', instance: '' }), `http://gw:9091/metrics/job@base64/${Buffer.from('a/b').toString('base64url')}/instance@base64/=`);
  });

  test('safeUrl drops credentials and query', () => {
    assert.equal(safeUrl('https://user:secret@gw.example:9091/base?token=xyz#f'), 'https://gw.example:9091/base');
    assert.equal(safeUrl('not a url'), '<invalid URL>');
  });

  test('PUTs the registry in the text format, credentials as basic auth', async () => {
    received.length = 0;
    const m = createMetrics({ defaultMetrics: false });
    m.reporter('w').onEvent(finished('build', 'executed'));
    await pushMetrics(m.registry, { url: base.replace('http://', 'http://ci:s3cret@'), job: 'nightly', instance: 'host1' });
    assert.equal(received.length, 1);
    const got = received[0]!;
    assert.equal(got.method, 'PUT');
    assert.equal(got.url, '/metrics/job/nightly/instance/host1');
    assert.equal(got.auth, `Basic ${Buffer.from('ci:s3cret').toString('base64')}`);
    assert.match(got.type ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(got.body, /^reprovm_tasks_total\{workspace="w",status="executed"\} 1$/m);
  });

  test('a refused push is a PushError without secrets; the reporter turns it into one warning', async () => {
    status = 500;
    try {
      const m = createMetrics({ defaultMetrics: false });
      await assert.rejects(pushMetrics(m.registry, { url: `${base.replace('http://', 'http://ci:s3cret@')}?token=abc`, job: 'j', instance: 'i' }), (e: unknown) => {
        assert.ok(e instanceof PushError);
        assert.match(e.message, /answered 500: bad push/);
        assert.doesNotMatch(e.message, /s3cret|token|abc/);
        return true;
      });
      const warnings: string[] = [];
      await new PushgatewayReporter(m.registry, { url: base, job: 'j', instance: 'i' }, (w) => warnings.push(w)).close();
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^metrics not pushed: the Pushgateway at http:\/\/127\.0\.0\.1:\d+ answered 500/);
    } finally {
      status = 200;
    }
  });

  test('unreachable and slow gateways fail within the timeout', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(pushMetrics(m.registry, { url: `http://127.0.0.1:${port}`, job: 'j', instance: 'i' }), /could not reach the Pushgateway at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    const slow = createServer(() => undefined); // never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const started = Date.now();
      await assert.rejects(pushMetrics(m.registry, { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, job: 'j', instance: 'i', timeoutMs: 200 }), /no answer within 200 ms/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
    await assert.rejects(pushMetrics(m.registry, { url: 'ftp://gw', job: 'j', instance: 'i' }), /must be http:\/\/ or https:\/\//);
  });
});
