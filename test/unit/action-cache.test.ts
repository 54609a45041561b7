import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ActionCache, canonicalJson, recordProblem, type ActionRecord } from '../../src/cas/action-cache.js';
import type { FileDigest, ResultHash, TaskKey } from '../../src/hash/digest.js';

const hex = (s: string): string => createHash('sha256').update(s).digest('hex');

function sampleRecord(overrides: Partial<ActionRecord> = {}): ActionRecord {
  return {
    version: 1,
    task: 'build',
    key: hex('key') as TaskKey,
    keyRecord: { version: 1, cmd: 'make', inputs: [{ path: 'src/a.c', digest: hex('a') }], env: [] },
    resultHash: hex('result') as ResultHash,
    outputs: [
      { path: 'out/app', kind: 'file', digest: hex('app') as FileDigest, size: 12, mode: 0o755 },
      { path: 'out/link', kind: 'symlink', target: 'app' },
      { path: 'out', kind: 'dir' },
    ],
    stdout: hex('stdout') as FileDigest,
    exitCode: 0,
    durationMs: 1234.5,
    createdAt: '2024-05-01T12:00:00.000Z',
    ...overrides,
  };
}

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'reprovm-ac-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const recordPath = (key: string): string => join(root, 'cache', `${key}.json`);

describe('ActionCache', () => {
  it('round-trips a record', async () => {
    const cache = new ActionCache(root);
    const rec = sampleRecord();
    assert.deepEqual(await cache.get(rec.key), { kind: 'miss' });
    await cache.put(rec);
    assert.deepEqual(await cache.get(rec.key), { kind: 'hit', record: rec });
    const onDisk = JSON.parse(await readFile(recordPath(rec.key), 'utf8')) as Record<string, unknown>;
    assert.match(String(onDisk['checksum']), /^[0-9a-f]{64}$/);
    const keys: string[] = [];
    for await (const k of cache.list()) keys.push(k);
    assert.deepEqual(keys, [rec.key]);
    assert.deepEqual(await readdir(join(root, 'cache')), [`${rec.key}.json`], 'no temp files left');
  });

  it('a record put as already parsed (an imported remote record) is written byte for byte as a normal put', async () => {
    const cache = new ActionCache(root);
    const rec = sampleRecord();
    await cache.put(rec);
    const normal = await readFile(recordPath(rec.key), 'utf8');
    await cache.remove(rec.key);
    await cache.put(JSON.parse(JSON.stringify(rec)) as ActionRecord, { parsed: true });
    assert.equal(await readFile(recordPath(rec.key), 'utf8'), normal);
    assert.deepEqual(await cache.get(rec.key), { kind: 'hit', record: rec });
  });

  it('replaces and removes records', async () => {
    const cache = new ActionCache(root);
    await cache.put(sampleRecord());
    await cache.put(sampleRecord({ exitCode: 0, durationMs: 1 }));
    const got = await cache.get(sampleRecord().key);
    assert.ok(got.kind === 'hit' && got.record.durationMs === 1);
    await cache.remove(sampleRecord().key);
    await cache.remove(sampleRecord().key); // idempotent
    assert.deepEqual(await cache.get(sampleRecord().key), { kind: 'miss' });
  });

  it('detects a tampered record and quarantines it', async () => {
    const cache = new ActionCache(root);
    const rec = sampleRecord();
    await cache.put(rec);
    const text = await readFile(recordPath(rec.key), 'utf8');
    await writeFile(recordPath(rec.key), text.replace('"exitCode": 0', '"exitCode": 1'));
    const got = await cache.get(rec.key);
    assert.equal(got.kind, 'corrupt');
    assert.match(got.kind === 'corrupt' ? got.message : '', /checksum mismatch\); moved to quarantine/);
    assert.deepEqual(await cache.get(rec.key), { kind: 'miss' });
    assert.equal((await readdir(join(root, 'cache', 'quarantine'))).length, 1);
  });

  it('detects torn JSON and a record stored under the wrong key', async () => {
    const cache = new ActionCache(root);
    const rec = sampleRecord();
    await cache.put(rec);
    const text = await readFile(recordPath(rec.key), 'utf8');
    await writeFile(recordPath(rec.key), text.slice(0, text.length / 2));
    const torn = await cache.get(rec.key);
    assert.ok(torn.kind === 'corrupt' && /not valid JSON/.test(torn.message));

    const other = hex('other') as TaskKey;
    await writeFile(recordPath(other), text); // a valid record, but for a different key
    const wrong = await cache.get(other);
    assert.ok(wrong.kind === 'corrupt' && /does not match the file name/.test(wrong.message));
  });

  it('validates the shape even when the checksum is consistent', async () => {
    const bad = (r: Record<string, unknown>): string | undefined => recordProblem(r);
    const base = JSON.parse(JSON.stringify(sampleRecord())) as Record<string, unknown>;
    assert.equal(bad(base), undefined);
    const withOutput = (o: Record<string, unknown>): Record<string, unknown> => ({ ...base, outputs: [o] });
    assert.match(bad(withOutput({ path: '../etc/passwd', kind: 'file', digest: hex('x'), size: 1 }))!, /safe relative path/);
    assert.match(bad(withOutput({ path: '/abs', kind: 'dir' }))!, /safe relative path/);
    assert.match(bad(withOutput({ path: 'a/./b', kind: 'dir' }))!, /safe relative path/);
    assert.match(bad(withOutput({ path: 'a', kind: 'file', digest: 'ABC', size: 1 }))!, /digest/);
    assert.match(bad(withOutput({ path: 'a', kind: 'file', digest: hex('x'), size: -1 }))!, /size/);
    assert.match(bad(withOutput({ path: 'a', kind: 'symlink' }))!, /target/);
    assert.match(bad(withOutput({ path: 'a', kind: 'socket' }))!, /kind/);
    assert.match(bad({ ...base, version: 3 })!, /version/);
    assert.match(bad({ ...base, resultHash: 'nope' })!, /resultHash/);
    assert.match(bad({ ...base, stderr: 'zz' })!, /stdout\/stderr/);
    assert.match(bad({ ...base, extra: true })!, /unknown field "extra"/);
    const { keyRecord: _dropped, ...noKeyRecord } = base;
    assert.match(bad(noKeyRecord)!, /keyRecord/);

    // A hand-written record with a correct checksum but a path escape is still rejected.
    const cache = new ActionCache(root);
    const evil: Record<string, unknown> = withOutput({ path: '../x', kind: 'dir' });
    const checksum = createHash('sha256').update(canonicalJson(evil)).digest('hex');
    await cache.put(sampleRecord()); // creates the directory
    await writeFile(recordPath(sampleRecord().key), JSON.stringify({ ...evil, checksum }));
    const got = await cache.get(sampleRecord().key);
    assert.ok(got.kind === 'corrupt' && /safe relative path/.test(got.message));
  });

  it('checks inline blobs: named by an output or log, base64, the declared size, hashing to their digest', () => {
    const content = Buffer.from('hello inline\n');
    const digest = createHash('sha256').update(content).digest('hex') as FileDigest;
    const good = JSON.parse(JSON.stringify(sampleRecord({
      version: 2,
      outputs: [{ path: 'out/a.txt', kind: 'file', digest, size: content.length, mode: 0o644 }],
      inline: { [digest]: content.toString('base64') },
    }))) as Record<string, unknown>;
    assert.equal(recordProblem(good), undefined);
    const inlineOf = (table: unknown): Record<string, unknown> => ({ ...good, inline: table });
    assert.match(recordProblem({ ...good, version: 1 })!, /version 2/);
    assert.match(recordProblem(inlineOf({ [hex('other')]: content.toString('base64') }))!, /not named by any output or log/);
    assert.match(recordProblem(inlineOf({ [digest]: '!!!!' }))!, /not base64/);
    assert.match(recordProblem(inlineOf({ [digest]: Buffer.from('hello inlinE\n').toString('base64') }))!, /does not match its digest/);
    assert.match(recordProblem(inlineOf({ [digest]: Buffer.from('hello').toString('base64') }))!, /has 5 bytes, not 13/);
    assert.match(recordProblem(inlineOf([]))!, /inline is not an object/);
    // A log may be inline too; the stdout digest of the sample record has no content of its own.
    const log = Buffer.from('log line\n');
    const logDigest = createHash('sha256').update(log).digest('hex');
    assert.equal(recordProblem({ ...good, stdout: logDigest, inline: { [digest]: content.toString('base64'), [logDigest]: log.toString('base64') } }), undefined);
  });

  it('refuses to store an invalid record', async () => {
    const cache = new ActionCache(root);
    await assert.rejects(cache.put(sampleRecord({ outputs: [{ path: '../x', kind: 'dir' }] })), /Internal error/);
  });

  it('canonical JSON sorts keys at every level', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":1}');
  });
});
