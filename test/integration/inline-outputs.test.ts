import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { canonicalJson } from '../../src/cas/action-cache.js';
import { events, rigsRemovedAfter, statuses, type Rig } from '../helpers/rig.js';

const newRig = rigsRemovedAfter('reprovm-inline-');

// `small` writes 13 bytes and prints a line (both inline); `big` writes 20,000 bytes (an object).
const MANIFEST = `task small {
  cmd = printf 'hello inline\\n' > small.txt && chmod +x small.txt && echo built small
  outputs = small.txt
}

task big {
  cmd = awk 'BEGIN { for (i = 0; i < 2000; i++) printf "%09d\\n", i }' > big.txt
  outputs = big.txt
}
`;

function objectFiles(cacheDir: string): string[] {
  const root = path.join(cacheDir, 'cas', 'objects');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((sub) => readdirSync(path.join(root, sub)).map((n) => sub + n));
}

type Json = Record<string, unknown>;

function recordOf(rig: Rig, task: string): { file: string; json: Json } {
  const dir = rig.path('.reprovm/cache');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const json = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Json;
    if (json['task'] === task) return { file: path.join(dir, name), json };
  }
  throw new Error(`no record for ${task}`);
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('small outputs and logs inside the action record', () => {
  test('a small output and its log are kept in the record, a large one is an object; both restore exactly', async () => {
    const rig = newRig();
    rig.write({ 'manifest.txt': MANIFEST });
    const first = await rig.run(['--json', 'manifest.txt']);
    assert.equal(first.code, 0, first.stderr);

    const small = recordOf(rig, 'small').json;
    assert.equal(small['version'], 2);
    const inline = small['inline'] as Record<string, string>;
    const content = Buffer.from('hello inline\n');
    assert.equal(Buffer.from(inline[sha256(content)]!, 'base64').toString(), 'hello inline\n');
    assert.equal(Buffer.from(inline[small['stdout'] as string]!, 'base64').toString(), 'built small\n');
    assert.equal(recordOf(rig, 'big').json['inline'], undefined);
    // Only the large output became an object.
    assert.deepEqual(objectFiles(rig.path('.reprovm')), [sha256(readFileSync(rig.path('big.txt')))]);

    const want = { small: readFileSync(rig.path('small.txt')), big: readFileSync(rig.path('big.txt')) };
    rmSync(rig.path('small.txt'));
    rmSync(rig.path('big.txt'));
    const again = await rig.run(['--json', 'manifest.txt']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(statuses(again.stdout), { small: 'cached', big: 'cached' });
    assert.deepEqual(readFileSync(rig.path('small.txt')), want.small);
    assert.deepEqual(readFileSync(rig.path('big.txt')), want.big);
    assert.equal(statSync(rig.path('small.txt')).mode & 0o111, 0o111, 'the executable bit came back');
    const replayed = events(again.stdout).filter((e) => e.type === 'task-output' && e['task'] === 'small').map((e) => e['line']);
    assert.deepEqual(replayed, ['built small']);
    // cache verify counts the record as whole: nothing is missing although small.txt has no object.
    const verify = await rig.run(['cache', 'verify', '--cache-dir', '.reprovm']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test('tampered inline content is a corrupt record: never restored, the task runs again', async () => {
    const rig = newRig();
    rig.write({ 'manifest.txt': MANIFEST });
    assert.equal((await rig.run(['manifest.txt', 'small'])).code, 0);
    const { file, json } = recordOf(rig, 'small');
    const inline = json['inline'] as Record<string, string>;
    const digest = sha256('hello inline\n');
    // Same length, other bytes, and a checksum that matches the forged record.
    const { checksum: _old, ...rest } = json;
    const body = { ...rest, inline: { ...inline, [digest]: Buffer.from('HELLO INLINE\n').toString('base64') } };
    writeFileSync(file, JSON.stringify({ ...body, checksum: sha256(canonicalJson(body)) }));
    rmSync(rig.path('small.txt'));

    const r = await rig.run(['--json', 'manifest.txt', 'small']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(statuses(r.stdout), { small: 'executed' });
    assert.equal(readFileSync(rig.path('small.txt'), 'utf8'), 'hello inline\n');
    const warnings = events(r.stdout).filter((e) => e.type === 'warning').map((e) => String(e['message']));
    assert.ok(warnings.some((w) => /does not match its digest/.test(w)), warnings.join('\n'));
  });

  test('inline_max_bytes = 0 stores every output as an object', async () => {
    const rig = newRig();
    rig.write({ 'manifest.txt': MANIFEST });
    const r = await rig.run(['manifest.txt'], { env: { REPROVM_CACHE_INLINE_MAX_BYTES: '0' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(recordOf(rig, 'small').json['inline'], undefined);
    assert.equal(objectFiles(rig.path('.reprovm')).length, 3, 'small.txt, its log and big.txt');
  });

  test('a remote carries inline blobs in the record: the other machine restores without a blob for them', async () => {
    const a = newRig();
    const b = newRig();
    const remote = a.path('shared-remote');
    for (const m of [a, b]) m.write({ 'manifest.txt': MANIFEST });
    assert.equal((await a.run(['cache', 'init-remote', '--remote', remote])).code, 0);
    const built = await a.run(['--remote', remote, 'manifest.txt']);
    assert.equal(built.code, 0, built.stderr);
    const blobs = readdirSync(path.join(remote, 'cas')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    assert.deepEqual(blobs, [sha256(readFileSync(a.path('big.txt')))], 'only the large output is a remote blob');

    const restored = await b.run(['--json', '--remote', remote, 'manifest.txt']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(events(restored.stdout).filter((e) => e.type === 'task-started').length, 0, 'no command ran on B');
    for (const f of ['small.txt', 'big.txt']) assert.deepEqual(readFileSync(b.path(f)), readFileSync(a.path(f)), f);
    assert.equal(statSync(b.path('small.txt')).mode & 0o111, 0o111);
  });
});
