import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deliver } from '../../src/ops/notify/deliver.js';
import { discordPayload, slackPayload } from '../../src/ops/notify/formats.js';
import { readLastOutcome, shouldNotify, writeLastOutcome } from '../../src/ops/notify/last-outcome.js';
import type { RunReport } from '../../src/ops/notify/run-report.js';
import { requestFor, sendToTargets, signBody } from '../../src/ops/notify/targets.js';

const report: RunReport = {
  event: 'run.finished',
  runId: 'r-1',
  workspace: '/home/ci/proj',
  status: 'failure',
  exitCode: 1,
  summary: { total: 10, executed: 4, cached: 4, failed: 2, skipped: 0 },
  failedTasks: ['build', 'lint'],
  failedTasksTruncated: false,
  durationMs: 12_345,
  cacheHitRate: 0.5,
  host: 'ci-1',
  version: '1.2.3',
  time: '2026-01-01T00:00:00.000Z',
};

interface Hit {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A loopback server whose answers are scripted per request. */
function startServer(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      answer(hits.length, req, res);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/SECRETPATH`, hits })));
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

describe('webhook delivery', () => {
  it('signs the exact body of the generic webhook', async () => {
    const { server, url, hits } = await startServer((_, __, res) => res.writeHead(204).end());
    servers.push(server);
    const [r] = await sendToTargets([{ name: 'webhook', format: 'generic', url, secret: 'hmac-key' }], report, { timeoutMs: 2000, retries: 0, backoffMs: 1 });
    assert.deepEqual(r, { target: 'webhook', ok: true, attempts: 1, status: 204 });
    const hit = hits[0]!;
    const expected = `sha256=${createHmac('sha256', 'hmac-key').update(hit.body).digest('hex')}`;
    assert.equal(hit.headers['x-reprovm-signature'], expected);
    assert.equal(hit.headers['x-reprovm-event'], 'run.finished');
    assert.equal(hit.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(hit.body), report);
  });

  it('sends no signature without a secret', () => {
    const { headers } = requestFor({ name: 'webhook', format: 'generic', url: 'http://x' }, report, '1');
    assert.equal(headers['x-reprovm-signature'], undefined);
    assert.equal(signBody('b', 'k'), `sha256=${createHmac('sha256', 'k').update('b').digest('hex')}`);
  });

  it('retries on 500 and 429, then succeeds', async () => {
    const { server, url, hits } = await startServer((n, _, res) => {
      if (n === 1) res.writeHead(500).end();
      else if (n === 2) res.writeHead(429, { 'retry-after': '0' }).end();
      else res.writeHead(200).end('ok');
    });
    servers.push(server);
    const r = await deliver(url, '{}', {}, { timeoutMs: 2000, retries: 3, backoffMs: 5 });
    assert.deepEqual(r, { ok: true, attempts: 3, status: 200 });
    assert.equal(hits.length, 3);
  });

  it('does not retry a 4xx other than 429', async () => {
    const { server, url, hits } = await startServer((_, __, res) => res.writeHead(404).end());
    servers.push(server);
    const r = await deliver(url, '{}', {}, { timeoutMs: 2000, retries: 3, backoffMs: 5 });
    assert.deepEqual(r, { ok: false, attempts: 1, status: 404, error: 'HTTP 404' });
    assert.equal(hits.length, 1);
  });

  it('gives up after the retries with the last error, without the URL', async () => {
    const { server, url } = await startServer((_, __, res) => res.writeHead(503).end());
    servers.push(server);
    const r = await deliver(url, '{}', {}, { timeoutMs: 2000, retries: 2, backoffMs: 1 });
    assert.deepEqual(r, { ok: false, attempts: 3, status: 503, error: 'HTTP 503' });
  });

  it('times out on a hanging server', async () => {
    const { server, url } = await startServer(() => undefined); // never answers
    servers.push(server);
    const t0 = Date.now();
    const r = await deliver(url, '{}', {}, { timeoutMs: 200, retries: 1, backoffMs: 10 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 2);
    assert.equal(r.error, 'timed out after 0.2s');
    assert.ok(Date.now() - t0 < 2000);
  });

  it('reports a refused connection by its code only', async () => {
    const { server, url } = await startServer(() => undefined);
    server.close();
    await new Promise((r) => setTimeout(r, 50));
    const r = await deliver(url, '{}', {}, { timeoutMs: 1000, retries: 0, backoffMs: 1 });
    assert.deepEqual(r, { ok: false, attempts: 1, error: 'network error (ECONNREFUSED)' });
    assert.doesNotMatch(JSON.stringify(r), /SECRETPATH|127\.0\.0\.1/);
  });

  it('an outer abort stops the retries at once', async () => {
    const { server, url } = await startServer((_, __, res) => res.writeHead(500).end());
    servers.push(server);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const r = await deliver(url, '{}', {}, { timeoutMs: 5000, retries: 5, backoffMs: 10_000, signal: ac.signal });
    assert.equal(r.ok, false);
    assert.ok(Date.now() - t0 < 1500);
  });
});

describe('chat formats', () => {
  it('slack: text fallback plus header, fields, failed tasks and context blocks', () => {
    const p = slackPayload(report) as { text: string; blocks: Array<Record<string, unknown>> };
    assert.equal(p.text, 'reprovm: run failed in proj: 2 of 10 tasks failed (12.3s)');
    assert.deepEqual(p.blocks.map((b) => b.type), ['header', 'section', 'section', 'context']);
    const header = p.blocks[0] as { text: { type: string; text: string } };
    assert.equal(header.text.type, 'plain_text');
    assert.ok(header.text.text.length <= 150);
    const fields = (p.blocks[1] as { fields: Array<{ type: string; text: string }> }).fields;
    assert.ok(fields.every((f) => f.type === 'mrkdwn'));
    assert.ok(fields.some((f) => f.text === '*Cache hit rate:* 50%'));
    assert.ok(fields.some((f) => f.text === '*Host:* ci-1'));
    assert.equal((p.blocks[2] as { text: { text: string } }).text.text, '*Failed tasks:* `build`, `lint`');
  });

  it('discord: content plus one embed with colour, fields, footer and timestamp', () => {
    const p = discordPayload(report) as { content: string; embeds: Array<Record<string, unknown>> };
    assert.equal(p.content, 'reprovm: run failed in proj: 2 of 10 tasks failed (12.3s)');
    assert.equal(p.embeds.length, 1);
    const e = p.embeds[0] as { title: string; color: number; fields: Array<{ name: string; value: string }>; footer: { text: string }; timestamp: string };
    assert.equal(e.title, 'reprovm · failure');
    assert.equal(typeof e.color, 'number');
    assert.deepEqual(e.fields.find((f) => f.name === 'Failed tasks')?.value, '`build`, `lint`');
    assert.equal(e.fields.find((f) => f.name === 'Duration')?.value, '12.3s');
    assert.equal(e.footer.text, 'run r-1 · reprovm 1.2.3');
    assert.equal(e.timestamp, report.time);
  });

  it('long task lists are clipped to the services\' limits', () => {
    const many = { ...report, failedTasks: Array.from({ length: 50 }, (_, i) => `task-with-a-long-name-${i}`.repeat(3)), failedTasksTruncated: true };
    const d = discordPayload(many) as { embeds: Array<{ fields: Array<{ value: string }> }> };
    assert.ok(d.embeds[0]!.fields.every((f) => f.value.length <= 1024));
    const s = slackPayload(many) as { blocks: Array<{ text?: { text: string } }> };
    assert.ok(s.blocks.every((b) => (b.text?.text.length ?? 0) <= 3000));
  });
});

describe('when to notify', () => {
  it('never | failure | always | change', () => {
    const table: Array<[Parameters<typeof shouldNotify>, boolean]> = [
      [['never', 'failure', 'success'], false],
      [['failure', 'failure', undefined], true],
      [['failure', 'success', 'failure'], false],
      [['always', 'success', 'success'], true],
      [['change', 'success', undefined], false],
      [['change', 'failure', undefined], true],
      [['change', 'failure', 'failure'], false],
      [['change', 'success', 'failure'], true],
      [['change', 'failure', 'success'], true],
      [['change', 'success', 'success'], false],
    ];
    for (const [args, expected] of table) assert.equal(shouldNotify(...args), expected, JSON.stringify(args));
  });

  let dir = '';
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'reprovm-notify-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the last outcome per workspace', async () => {
    assert.equal(readLastOutcome(dir, '/ws/a'), undefined);
    await writeLastOutcome(dir, '/ws/a', 'failure');
    await writeLastOutcome(dir, '/ws/b', 'success');
    assert.equal(readLastOutcome(dir, '/ws/a'), 'failure');
    assert.equal(readLastOutcome(dir, '/ws/b'), 'success');
    await writeLastOutcome(dir, '/ws/a', 'success');
    assert.equal(readLastOutcome(dir, '/ws/a'), 'success');
  });
});
