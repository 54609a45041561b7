/**
 * Fake secrets in the environment and the configuration must appear nowhere reprovm writes:
 * not in the workspace or cache files (audit log, log file, state, notification state), the
 * run summary, JUnit report and metrics file, the NDJSON events, stdout/stderr, `config show`, the webhook
 * bodies and headers, the Pushgateway push, or a backup's manifest. (The backup archive itself
 * carries reprovm.conf verbatim, by design: it restores the configuration.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirBlobStore } from '../../src/remote/dir-store.js';
import { readManifest } from '../../src/ops/backup/archive.js';
import { Rig } from '../helpers/rig.js';

const CANARIES = {
  signingKey: 'canary-signing-key-5b1f0e',
  webhookPath: 'canary-webhook-path-7c2e11',
  webhookSecret: 'canary-webhook-secret-9d3a44',
  slackPath: 'canary-slack-path-1a2b77',
  discordPath: 'canary-discord-path-3c4d88',
  remotePassword: 'canary-remote-pass-4e5f99',
  remoteKeyId: 'AKIACANARYKEYID0',
  pushPassword: 'canary-push-pass-6a7b00',
  tokenHash: 'c0ffee00'.repeat(8),
  apiToken: 'canary-api-token-8f9a22',
};

function findCanaries(text: string): string[] {
  return Object.entries(CANARIES).filter(([, v]) => text.includes(v)).map(([k]) => k);
}

/** Every file below `dir` except the configuration file, which holds the secrets on purpose. */
function filesBelow(dir: string, skip: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (p === skip) continue;
    if (statSync(p).isDirectory()) out.push(...filesBelow(p, skip));
    else out.push(p);
  }
  return out;
}

describe('secret canary', () => {
  let server: Server;
  let base = '';
  const received: string[] = [];
  const rig = new Rig();

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        // Request line and headers too: only the path may carry the webhook secret (that is where it belongs).
        const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${String(v)}`).join('\n');
        received.push(`${headers}\n\n${body}`);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rig.cleanup();
  });

  test('no secret in any output, file, event, report or request body', async () => {
    const host = new URL(base).host;
    rig.write({
      'm.txt': 'task ok {\n  cmd = echo ok > ok.txt\n  outputs = ok.txt\n}\ntask boom {\n  cmd = echo failing; exit 3\n}\n',
      'reprovm.conf': [
        '[logging]',
        'level = debug',
        'file = logs/reprovm.jsonl',
        '[remote]',
        `url = s3://${CANARIES.remoteKeyId}:${CANARIES.remotePassword}@bucket/prefix`,
        'mode = off',
        '[notifications]',
        'on = always',
        `webhook_url = ${base}/hook/${CANARIES.webhookPath}`,
        `webhook_secret = ${CANARIES.webhookSecret}`,
        `slack_webhook_url = ${base}/slack/${CANARIES.slackPath}`,
        `discord_webhook_url = ${base}/discord/${CANARIES.discordPath}`,
        '[prometheus]',
        `pushgateway_url = http://user:${CANARIES.pushPassword}@${host}/push`,
        '[token.ci]',
        'role = admin',
        `sha256 = ${CANARIES.tokenHash}`,
        '',
      ].join('\n'),
    });
    const env = { REPROVM_CACHE_SIGNING_KEY: CANARIES.signingKey, REPROVM_API_TOKEN: CANARIES.apiToken, REPROVM_NOTIFY_BACKOFF_MS: '10' };
    const run = await rig.run(['--json', '-k', '--summary', 'out/summary.json', '--junit', 'out/junit.xml', '--metrics', 'out/metrics.json', 'm.txt'], { env });
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(findCanaries(run.stdout), [], 'NDJSON events');
    assert.deepEqual(findCanaries(run.stderr), [], 'stderr');
    const human = await rig.run(['-f', 'm.txt'], { env });
    assert.deepEqual(findCanaries(human.stdout + human.stderr), [], 'human output');

    for (const args of [['config', 'show', 'm.txt'], ['config', 'show', '--json', 'm.txt']]) {
      const shown = await rig.run(args, { env });
      assert.equal(shown.code, 0, shown.stderr);
      assert.deepEqual(findCanaries(shown.stdout + shown.stderr), [], args.join(' '));
    }
    const notified = await rig.run(['notify', 'test'], { env });
    assert.equal(notified.code, 0, notified.stderr);
    assert.deepEqual(findCanaries(notified.stdout + notified.stderr), [], 'notify test');
    const shownAudit = await rig.run(['audit', 'show', '--json'], { env });
    assert.deepEqual(findCanaries(shownAudit.stdout), [], 'audit show');

    const backup = await rig.run(['backup', 'create', '--to', rig.path('backups'), '--json'], { env });
    assert.equal(backup.code, 0, backup.stderr);
    assert.deepEqual(findCanaries(backup.stdout + backup.stderr), [], 'backup create');
    const store = new DirBlobStore(rig.path('backups'));
    const listed = await rig.run(['backup', 'list', '--from', rig.path('backups'), '--json'], { env });
    assert.deepEqual(findCanaries(listed.stdout + listed.stderr), [], 'backup list');
    const name = (JSON.parse(backup.stdout) as { name: string }).name;
    const manifest = await readManifest(store, name);
    assert.ok(JSON.stringify(manifest).includes('audit.log'), 'the manifest lists the audit log');
    assert.deepEqual(findCanaries(JSON.stringify(manifest)), [], 'backup manifest');

    // Webhooks (2 runs + 1 test, 3 targets each) and the Pushgateway pushes.
    assert.ok(received.length >= 9, `requests received: ${received.length}`);
    assert.ok(received.some((r) => r.includes('reprovm_tasks')), 'the Pushgateway push was checked too');
    for (const r of received) assert.deepEqual(findCanaries(r), [], r.slice(0, 300));

    // The detector itself works: the configuration holds all but the two environment-only secrets.
    assert.equal(findCanaries(readFileSync(rig.path('reprovm.conf'), 'utf8')).length, Object.keys(CANARIES).length - 2);
    const files = filesBelow(rig.dir, rig.path('reprovm.conf')).filter((f) => !f.startsWith(rig.path('backups')));
    for (const must of ['.reprovm/audit.log', 'logs/reprovm.jsonl', 'out/summary.json', 'out/junit.xml', 'out/metrics.json']) {
      assert.ok(files.includes(rig.path(must)), `${must} was written`);
    }
    for (const f of files) assert.deepEqual(findCanaries(readFileSync(f, 'latin1')), [], path.relative(rig.dir, f));
  });
});
