import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FileDigest, ResultHash } from '../../src/hash/digest.js';
import { computeResultHash, computeTaskKey, encodeKeyRecord, makeKeyRecord } from '../../src/hash/task-key.js';

const D1 = 'a'.repeat(64) as FileDigest;
const D2 = 'b'.repeat(64) as FileDigest;
const R1 = 'c'.repeat(64) as ResultHash;

const base = {
  cmd: 'gcc -o hello hello.c',
  inputs: [
    { path: 'z.h', digest: D2, executable: false },
    { path: 'hello.c', digest: D1, executable: false },
  ],
  deps: [{ task: 'gen', result: R1 }],
  outputs: ['hello'],
  env: [{ name: 'CC', value: 'gcc' }],
};

test('golden: the canonical encoding and the key of a fixed record', () => {
  const record = makeKeyRecord(base);
  assert.equal(
    encodeKeyRecord(record),
    `["reprovm-task-key",1,"gcc -o hello hello.c",[["hello.c","${D1}",0],["z.h","${D2}",0]],[["gen","${R1}"]],["hello"],[["CC","gcc"]]]`,
  );
  // Changing this value breaks every cache in the world: bump KEY_FORMAT_VERSION instead.
  assert.equal(computeTaskKey(record), '0215e89f01a5eab773e58e2a3b72b2d2fbbce2a1ce287f62e21a107cccac9b54');
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
    { ...base, env: [{ name: 'CC', value: '' }] },
    { ...base, env: [{ name: 'CC', value: null }] },
  ];
  const keys = new Set(variants.map((v) => computeTaskKey(makeKeyRecord(v))));
  assert.equal(keys.size, variants.length);
  assert.ok(!keys.has(key));
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
