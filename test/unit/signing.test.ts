import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActionRecord } from '../../src/cas/action-cache.js';
import { checkSignature, signRecord, signingKeyFrom } from '../../src/cache/signing.js';
import type { FileDigest, ResultHash, TaskKey } from '../../src/hash/digest.js';

const hex = (c: string): string => c.repeat(64);
const record: ActionRecord = {
  version: 1,
  task: 'build',
  key: hex('a') as TaskKey,
  keyRecord: { version: 1, cmd: 'gcc -o hello hello.c', inputs: [{ path: 'hello.c', digest: hex('1'), executable: false }] },
  resultHash: hex('b') as ResultHash,
  outputs: [{ path: 'hello', kind: 'file', digest: hex('c') as FileDigest, size: 10, mode: 0o755 }],
  stdout: hex('d') as FileDigest,
  exitCode: 0,
  durationMs: 12,
  createdAt: '2026-01-01T00:00:00.000Z',
};
const key = Buffer.from('team secret');

test('a signed record verifies with the same key, also after a JSON round trip', () => {
  const sig = signRecord(record, key);
  assert.match(sig, /^hmac-sha256:[0-9a-f]{64}$/);
  assert.equal(checkSignature(record, sig, key), 'valid');
  const copy = JSON.parse(JSON.stringify(record)) as ActionRecord;
  assert.equal(checkSignature(copy, sig, key), 'valid');
});

test('the signature is the documented HMAC (stable across releases)', () => {
  assert.equal(signRecord(record, key), signRecord({ ...record }, Buffer.from('team secret')));
  assert.notEqual(signRecord(record, key), signRecord(record, Buffer.from('other')));
});

test('unsigned, malformed, wrong-key and tampered records are rejected', () => {
  const sig = signRecord(record, key);
  assert.equal(checkSignature(record, undefined, key), 'missing');
  assert.equal(checkSignature(record, 'sha1:abc', key), 'invalid');
  assert.equal(checkSignature(record, sig, Buffer.from('wrong key')), 'invalid');
  const tampered = [
    { ...record, outputs: [{ ...record.outputs[0]!, digest: hex('e') as FileDigest }] },
    { ...record, key: hex('f') as TaskKey },
    { ...record, keyRecord: { version: 1, cmd: 'rm -rf /' } },
    { ...record, resultHash: hex('9') as ResultHash },
    { ...record, stdout: hex('8') as FileDigest },
    { ...record, outputs: [{ ...record.outputs[0]!, mode: 0o4755 }] },
  ];
  for (const t of tampered) assert.equal(checkSignature(t, sig, key), 'invalid', JSON.stringify(t).slice(0, 80));
});

test('an empty key variable means no key', () => {
  assert.equal(signingKeyFrom(undefined), undefined);
  assert.equal(signingKeyFrom(''), undefined);
  assert.deepEqual(signingKeyFrom('k'), Buffer.from('k'));
});
