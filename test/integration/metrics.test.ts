import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { appendRunStats } from '../../src/ops/run-history.js';
import { createMetrics } from '../../src/report/metrics-reporter.js';
import { startMetricsExporter } from '../../src/server/metrics-exporter.js';
import { OBJECTS_ONLY, Rig } from '../helpers/rig.js';

const MANIFEST = `
task gen {
  cmd = echo hello > gen.txt
  outputs = gen.txt
}
task copy {
  cmd = cp gen.txt copy.txt && echo copied >> copy.txt
  inputs = gen.txt
  outputs = copy.txt
}
task broken {
  cmd = exit 3
}
`;

/** The value of one series in the text format, or undefined if absent. */
function series(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A local stand-in for the Pushgateway: records every request. */
class FakeGateway {
  readonly requests: { method: string; url: string; body: string }[] = [];
  #server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200).end();
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()));
  }
}

describe('run --pushgateway', () => {
  const rig = new Rig();
  const gw = new FakeGateway();
  before(async () => {
    rig.write({ 'manifest.txt': MANIFEST });
    await gw.start();
  });
  after(async () => {
    await gw.stop();
    rig.cleanup();
  });

  test('pushes the run\'s metrics once, at the end, with the expected series', async () => {
    const first = await rig.run(['run', '--pushgateway', gw.url, 'manifest.txt', 'copy']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(gw.requests.length, 1);
    const push = gw.requests[0]!;
    assert.equal(push.method, 'PUT');
    assert.match(push.url, /^\/metrics\/job\/reprovm\/instance\/[^/]+$/);
    const ws = JSON.stringify(rig.dir).slice(1, -1);
    assert.equal(series(push.body, 'reprovm_tasks_total', `workspace="${ws}",status="executed"`), 2);
    assert.equal(series(push.body, 'reprovm_cache_lookups_total', `workspace="${ws}",result="miss",source="none",reason="no-record"`), 2);
    assert.equal(series(push.body, 'reprovm_runs_total', `workspace="${ws}",status="succeeded"`), 1);
    assert.equal(series(push.body, 'reprovm_task_duration_seconds_count', `workspace="${ws}",task="gen",status="executed"`), 1);
    assert.equal(series(push.body, 'reprovm_run_duration_seconds_count', `workspace="${ws}",status="succeeded"`), 1);
    assert.doesNotMatch(push.body, /^process_/m, 'no process metrics in a push');

    rig.write({ 'gen.txt': 'tampered\n' }); // gen is restored from the cache, copy is up to date
    const second = await rig.run(['--pushgateway', gw.url, '-k', 'manifest.txt']);
    assert.equal(second.code, 1, 'broken fails');
    assert.equal(gw.requests.length, 2);
    const body = gw.requests[1]!.body;
    assert.equal(series(body, 'reprovm_tasks_total', `workspace="${ws}",status="cached"`), 2, 'a push holds this run only');
    assert.equal(series(body, 'reprovm_tasks_total', `workspace="${ws}",status="failed"`), 1);
    assert.equal(series(body, 'reprovm_tasks_total', `workspace="${ws}",status="executed"`), undefined);
    assert.equal(series(body, 'reprovm_cache_lookups_total', `workspace="${ws}",result="hit",source="local",reason="none"`), 2);
    assert.equal(series(body, 'reprovm_runs_total', `workspace="${ws}",status="failed"`), 1);
  });

  test('an unreachable Pushgateway is one warning and does not change the exit code', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const res = await rig.run(['--pushgateway', `http://user:hunter2@127.0.0.1:${port}/?t=secret`, 'manifest.txt', 'copy']);
    assert.equal(res.code, 0, res.stderr);
    const warnings = res.stderr.split('\n').filter((l) => l.includes('metrics not pushed'));
    assert.deepEqual(warnings, [`reprovm: warning: metrics not pushed: could not reach the Pushgateway at http://127.0.0.1:${port}: ECONNREFUSED`]);
    assert.doesNotMatch(res.stderr + res.stdout, /hunter2|secret/);
  });

  test('[prometheus] pushgateway_url and job in the config file push without the flag', async () => {
    const before = gw.requests.length;
    rig.write({ 'reprovm.conf': `[prometheus]\npushgateway_url = ${gw.url}\njob = nightly ci\n` });
    try {
      const res = await rig.run(['manifest.txt', 'copy']);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(gw.requests.length, before + 1);
      assert.match(gw.requests.at(-1)!.url, /^\/metrics\/job\/nightly%20ci\/instance\/[^/]+$/);
      assert.match(gw.requests.at(-1)!.body, /^reprovm_runs_total\{workspace="[^"]+",status="succeeded"\} 1$/m);
    } finally {
      rig.write({ 'reprovm.conf': '' });
    }
  });

  test('--pushgateway cannot be combined with --dry-run', async () => {
    const res = await rig.run(['--pushgateway', gw.url, '-n', 'manifest.txt']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--pushgateway.*cannot be used with option.*--dry-run/);
  });
});

describe('metrics-only exporter', () => {
  const rig = new Rig('reprovm-test-', { env: OBJECTS_ONLY }); // the CAS gauges count objects
  before(async () => {
    rig.write({ 'manifest.txt': MANIFEST });
    const res = await rig.run(['manifest.txt', 'copy']);
    assert.equal(res.code, 0, res.stderr);
  });
  after(() => rig.cleanup());

  test('serves CAS gauges, last-run gauges and process metrics on GET /metrics', async () => {
    const cacheDir = rig.path('.reprovm');
    // The real run above recorded itself; replace its entry with fixed ones so the gauges are exact.
    const history = path.join(cacheDir, 'run-stats.jsonl');
    assert.match(readFileSync(history, 'utf8'), /"executed":2/);
    rmSync(history);
    appendRunStats(cacheDir, { time: '2026-03-01T10:00:00.000Z', workspace: 'old', total: 1, executed: 1, cached: 0, failed: 0, skipped: 0, wallMs: 100 });
    appendRunStats(cacheDir, { time: '2026-03-02T10:00:00.000Z', workspace: rig.dir, total: 3, executed: 1, cached: 1, failed: 1, skipped: 0, wallMs: 2500 });
    appendRunStats(cacheDir, { time: '2026-03-01T09:00:00.000Z', workspace: rig.dir, total: 1, executed: 1, cached: 0, failed: 0, skipped: 0, wallMs: 10 });
    const objectsDir = path.join(cacheDir, 'cas', 'objects');
    let objects = 0;
    let bytes = 0;
    for (const sub of readdirSync(objectsDir)) {
      for (const name of readdirSync(path.join(objectsDir, sub))) {
        objects++;
        bytes += statSync(path.join(objectsDir, sub, name)).size;
      }
    }
    assert.ok(objects >= 2);

    const exporter = await startMetricsExporter({ host: '127.0.0.1', port: 0, cacheDirs: [cacheDir], metrics: createMetrics(), minRefreshMs: 0 });
    try {
      const res = await fetch(`${exporter.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.equal(series(text, 'reprovm_cas_objects', ''), objects);
      assert.equal(series(text, 'reprovm_cas_bytes', ''), bytes);
      const ws = JSON.stringify(rig.dir).slice(1, -1);
      assert.equal(series(text, 'reprovm_last_run_timestamp_seconds', `workspace="${ws}"`), Date.parse('2026-03-02T10:00:00.000Z') / 1000);
      assert.equal(series(text, 'reprovm_last_run_duration_seconds', `workspace="${ws}"`), 2.5);
      assert.equal(series(text, 'reprovm_last_run_tasks', `workspace="${ws}",status="failed"`), 1);
      assert.equal(series(text, 'reprovm_last_run_tasks', 'workspace="old",status="executed"'), 1);
      assert.match(text, /^process_resident_memory_bytes /m);
      assert.match(text, /^# TYPE reprovm_tasks_total counter$/m);

      // Refreshed on scrape: a new object shows up in the next scrape.
      rig.write({ 'manifest.txt': `${MANIFEST}\ntask more {\n  cmd = echo more > more.txt\n  outputs = more.txt\n}\n` });
      assert.equal((await rig.run(['manifest.txt', 'more'])).code, 0);
      const again = await (await fetch(`${exporter.url}/metrics`)).text();
      assert.ok((series(again, 'reprovm_cas_objects', '') ?? 0) > objects);

      assert.equal((await fetch(`${exporter.url}/other`)).status, 404);
      assert.equal((await fetch(`${exporter.url}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await exporter.close();
    }
  });

  test('`reprovm serve --metrics-only` serves the cache of the current directory and stops on SIGTERM', async () => {
    const child = rig.spawn(['serve', '--metrics-only', '--host', '127.0.0.1', '--port', '0']);
    try {
      let out = '';
      child.stdout!.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" line: ${out}`)), 15_000);
        child.stdout!.on('data', (c: string) => {
          out += c;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
      });
      const text = await (await fetch(`${url}/metrics`)).text();
      assert.ok((series(text, 'reprovm_cas_objects', '') ?? 0) >= 2, text.slice(0, 500));
      assert.match(text, /^process_cpu_user_seconds_total /m);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('concurrent scrapes share one CAS scan; figures younger than minRefreshMs are reused', async () => {
    let scans = 0;
    const exporter = await startMetricsExporter({
      host: '127.0.0.1',
      port: 0,
      cacheDirs: [rig.path('.reprovm')],
      metrics: createMetrics({ defaultMetrics: false }),
      minRefreshMs: 60_000,
      casStats: async () => {
        scans++;
        await new Promise((r) => setTimeout(r, 50));
        return { objects: 7, bytes: 70 };
      },
    });
    try {
      const texts = await Promise.all([1, 2, 3, 4].map(async () => (await fetch(`${exporter.url}/metrics`)).text()));
      for (const t of texts) assert.equal(series(t, 'reprovm_cas_objects', ''), 7);
      await fetch(`${exporter.url}/metrics`);
      assert.equal(scans, 1);
    } finally {
      await exporter.close();
    }
  });
});
