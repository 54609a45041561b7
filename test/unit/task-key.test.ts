import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FileDigest, ResultHash } from '../../src/hash/digest.js';
import { computeResultHash, computeTaskKey, encodeKeyRecord, envValueDigest, makeKeyRecord } from '../../src/hash/task-key.js';

const D1 = 'a'.repeat(64) as FileDigest;
const D2 = 'b'.repeat(64) as FileDigest;
const R1 = 'c'.repeat(64) as ResultHash;
/** SHA-256 of "gcc". */
const GCC = '94f0fa7f897ccce65856dc5a98bae4bf6957a346766613d79414c976d093aa4a';

const base = {
  cmd: 'gcc -o hello hello.c',
  inputs: [
    { path: 'z.h', digest: D2, executable: false },
    { path: 'hello.c', digest: D1, executable: false },
  ],
  deps: [{ task: 'gen', result: R1 }],
  outputs: ['hello'],
  env: [{ name: 'CC', value: envValueDigest('gcc') }],
};

test('golden: the canonical encoding and the key of a fixed record', () => {
  const record = makeKeyRecord(base);
  assert.equal(
    encodeKeyRecord(record),
    `["reprovm-task-key",2,"gcc -o hello hello.c",[["hello.c","${D1}",0],["z.h","${D2}",0]],[["gen","${R1}"]],["hello"],[["CC","sha256:${GCC}"]]]`,
  );
  // Changing this value breaks every cache in the world: bump KEY_FORMAT_VERSION instead.
  assert.equal(computeTaskKey(record), 'ae1c38b92074808180b08c7a716b4e175df43d22e7f35239aa8be7c5ba1ab939');
});

test('the order of declarations does not matter; every field does', () => {
  const key = computeTaskKey(makeKeyRecord(base));
  assert.equal(computeTaskKey(makeKeyRecord({ ...base, inputs: [...base.inputs].reverse() })), key);
  const variants = [
    { ...base, cmd: 'gcc -O2 -o hello hello.c' },
    { ...base, inputs: [{ ...base.inputs[0]!, executable: true }, base.inputs[1]!] },
    { ...base, inputs: [{ ...base.inputs[0]!, digest: D1 }, base.inputs[1]!] },
    { ...base, inputs: [base.inputs[1]!] },
    { ...base, deps: [{ task: 'gen', result: 'd'.repeat(64) as ResultHash }] },
    { ...base, deps: [] },
    { ...base, outputs: ['hello', 'hello.map'] },
    { ...base, env: [{ name: 'CC', value: envValueDigest('') }] },
    { ...base, env: [{ name: 'CC', value: envValueDigest(null) }] },
  ];
  const keys = new Set(variants.map((v) => computeTaskKey(makeKeyRecord(v))));
  assert.equal(keys.size, variants.length);
  assert.ok(!keys.has(key));
});

test('env values are stored as SHA-256 digests, never as the value; unset differs from empty', () => {
  assert.equal(envValueDigest(undefined), null);
  assert.equal(envValueDigest(null), null);
  assert.equal(envValueDigest(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const encoded = encodeKeyRecord(makeKeyRecord({ ...base, env: [{ name: 'TOKEN', value: envValueDigest('canary-s3cret') }] }));
  assert.ok(!encoded.includes('canary-s3cret'));
  assert.ok(encoded.includes(envValueDigest('canary-s3cret')!));
});

test('result hash covers path, content, mode and link targets, not order', () => {
  const a = { path: 'a', kind: 'file' as const, digest: D1, mode: 0o644 };
  const b = { path: 'b', kind: 'symlink' as const, target: 'a' };
  const h = computeResultHash([a, b]);
  assert.equal(computeResultHash([b, a]), h);
  assert.notEqual(computeResultHash([{ ...a, mode: 0o755 }, b]), h);
  assert.notEqual(computeResultHash([a, { ...b, target: 'c' }]), h);
  assert.notEqual(computeResultHash([{ ...a, path: 'a2' }, b]), h);
  assert.match(h, /^[0-9a-f]{64}$/);
});
