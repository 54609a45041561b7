import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { Rig } from '../helpers/rig.js';

interface Hit {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** One loopback server for the file; each test scripts its answers. */
let server: Server;
let base = '';
let hits: Hit[] = [];
let answer: (hit: Hit, res: ServerResponse) => void = (_, res) => res.writeHead(200).end();

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const hit = { path: req.url ?? '', headers: req.headers, body };
      hits.push(hit);
      answer(hit, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const OK = 'task ok {\n  cmd = echo ok > ok.txt\n  outputs = ok.txt\n}\n';
const FAILING = 'task ok {\n  cmd = echo ok > ok.txt\n  outputs = ok.txt\n}\ntask boom {\n  cmd = exit 4\n}\n';
const ENV = { REPROVM_NOTIFY_BACKOFF_MS: '10' };

function conf(lines: string): string {
  return `[notifications]\n${lines}\n`;
}

describe('webhook notifications (CLI)', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
    hits = [];
    answer = (_, res) => res.writeHead(200).end();
  });
  afterEach(() => rig.cleanup());

  test('on = failure: a failed run POSTs a signed JSON summary; a green run sends nothing', async () => {
    rig.write({ 'm.txt': FAILING, 'reprovm.conf': conf(`on = failure\nwebhook_url = ${base}/hook/abc\nwebhook_secret = hmac-secret-1`) });
    const r = await rig.run(['m.txt'], { env: ENV });
    assert.equal(r.code, 1);
    assert.equal(hits.length, 1);
    const hit = hits[0]!;
    assert.equal(hit.path, '/hook/abc');
    assert.equal(hit.headers['x-reprovm-event'], 'run.finished');
    assert.equal(hit.headers['x-reprovm-signature'], `sha256=${createHmac('sha256', 'hmac-secret-1').update(hit.body).digest('hex')}`);
    const body = JSON.parse(hit.body) as Record<string, unknown>;
    assert.equal(body.status, 'failure');
    assert.equal(body.exitCode, 1);
    assert.equal(body.workspace, rig.dir);
    assert.deepEqual(body.failedTasks, ['boom']);
    assert.deepEqual(body.summary, { total: 2, executed: 1, cached: 0, failed: 1, skipped: 0 });
    assert.equal(body.cacheHitRate, 0);
    assert.equal(typeof body.durationMs, 'number');
    assert.equal(typeof body.host, 'string');
    assert.match(String(body.version), /^\d+\.\d+\.\d+/);
    assert.match(String(body.runId), /.+/);

    rig.write({ 'm.txt': OK });
    assert.equal((await rig.run(['m.txt'], { env: ENV })).code, 0);
    assert.equal(hits.length, 1);
  });

  test('on = always notifies a green run; on = never does not', async () => {
    rig.write({ 'm.txt': OK, 'reprovm.conf': conf(`on = always\nwebhook_url = ${base}/h`) });
    assert.equal((await rig.run(['m.txt'], { env: ENV })).code, 0);
    assert.equal(hits.length, 1);
    const body = JSON.parse(hits[0]!.body) as Record<string, unknown>;
    assert.equal(body.status, 'success');
    assert.equal(hits[0]!.headers['x-reprovm-signature'], undefined);
    rig.write({ 'reprovm.conf': conf(`on = never\nwebhook_url = ${base}/h`) });
    assert.equal((await rig.run(['m.txt'], { env: ENV })).code, 0);
    assert.equal(hits.length, 1);
  });

  test('on = change notifies only when the outcome differs from the previous run', async () => {
    rig.write({ 'reprovm.conf': conf(`on = change\nwebhook_url = ${base}/h`) });
    const sequence: Array<[string, number, boolean]> = [
      [OK, 0, false], // first run, green: not news
      [FAILING, 1, true], // broke
      [FAILING, 1, false], // still broken
      [OK, 0, true], // fixed
      [OK, 0, false],
    ];
    for (const [manifest, code, notified] of sequence) {
      const before = hits.length;
      rig.write({ 'm.txt': manifest });
      assert.equal((await rig.run(['m.txt'], { env: ENV })).code, code);
      assert.equal(hits.length - before, notified ? 1 : 0, `${manifest.includes('boom') ? 'failing' : 'green'} run`);
    }
    assert.deepEqual(hits.map((h) => (JSON.parse(h.body) as { status: string }).status), ['failure', 'success']);
  });

  test('retries on 500, then succeeds', async () => {
    answer = (_, res) => res.writeHead(hits.length < 3 ? 500 : 200).end();
    rig.write({ 'm.txt': OK, 'reprovm.conf': conf(`on = always\nretries = 3\nwebhook_url = ${base}/h`) });
    const r = await rig.run(['m.txt'], { env: ENV });
    assert.equal(r.code, 0);
    assert.equal(hits.length, 3);
    assert.doesNotMatch(r.stderr, /notification failed/);
  });

  test('a hanging server: the run still exits promptly and succeeds; the failure is warned (no URL) and audited', async () => {
    answer = () => undefined; // never answers
    rig.write({ 'm.txt': OK, 'reprovm.conf': conf(`on = always\ntimeout_seconds = 1\nretries = 1\nwebhook_url = ${base}/hook/SECRET-PATH-123`) });
    const t0 = Date.now();
    const r = await rig.run(['m.txt'], { env: ENV });
    const elapsed = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(elapsed < 6000, `took ${elapsed} ms`);
    assert.equal(hits.length, 2);
    assert.match(r.stderr, /warning: the webhook notification failed: timed out after 1s \(2 attempts\)/);
    assert.doesNotMatch(r.stderr, /SECRET-PATH-123|127\.0\.0\.1/);
    const audit = readFileSync(rig.path('.reprovm/audit.log'), 'utf8');
    const failed = audit.split('\n').filter((l) => l.includes('"notify.failed"'));
    assert.equal(failed.length, 1);
    assert.match(failed[0]!, /"target":"webhook","error":"timed out after 1s","attempts":2/);
    assert.doesNotMatch(audit, /SECRET-PATH-123/);
  });

  test('Slack and Discord get their own payload shapes', async () => {
    rig.write({ 'm.txt': FAILING, 'reprovm.conf': conf(`on = failure\nslack_webhook_url = ${base}/slack\ndiscord_webhook_url = ${base}/discord`) });
    assert.equal((await rig.run(['m.txt'], { env: ENV })).code, 1);
    assert.deepEqual(hits.map((h) => h.path).sort(), ['/discord', '/slack']);
    const slack = JSON.parse(hits.find((h) => h.path === '/slack')!.body) as { text: string; blocks: Array<{ type: string }> };
    assert.match(slack.text, /^reprovm: run failed in .+: 1 of 2 tasks failed/);
    assert.deepEqual(slack.blocks.map((b) => b.type), ['header', 'section', 'section', 'context']);
    const discord = JSON.parse(hits.find((h) => h.path === '/discord')!.body) as { content: string; embeds: Array<{ fields: Array<{ name: string; value: string }> }> };
    assert.match(discord.content, /^reprovm: run failed/);
    assert.equal(discord.embeds[0]!.fields.find((f) => f.name === 'Failed tasks')?.value, '`boom`');
  });

  test('notify test reports each target; exit 1 if one failed, 2 with none configured', async () => {
    answer = (hit, res) => res.writeHead(hit.path === '/discord' ? 500 : 200).end();
    rig.write({ 'reprovm.conf': conf(`retries = 0\nwebhook_url = ${base}/h\nwebhook_secret = s\nslack_webhook_url = ${base}/slack\ndiscord_webhook_url = ${base}/discord`) });
    const r = await rig.run(['notify', 'test'], { env: ENV });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'webhook: ok (HTTP 200, 1 attempt)\nslack: ok (HTTP 200, 1 attempt)\ndiscord: failed: HTTP 500 (1 attempt)\n');
    const generic = hits.find((h) => h.path === '/h')!;
    assert.equal(generic.headers['x-reprovm-event'], 'test');
    assert.equal((JSON.parse(generic.body) as { status: string }).status, 'test');

    answer = (_, res) => res.writeHead(200).end();
    const ok = await rig.run(['notify', 'test', '--config', rig.path('reprovm.conf')], { env: ENV, cwd: '/' });
    assert.equal(ok.code, 0, ok.stderr);

    rig.write({ 'reprovm.conf': '' });
    const none = await rig.run(['notify', 'test'], { env: ENV });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no notification target is configured/);
  });
});
