import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FileDigest, ResultHash } from '../../src/hash/digest.js';
import {
  explainKeyChange,
  renderReason,
  renderReasonShort,
  summarizeReasons,
  type ExplainReason,
  type ExplainReasonKind,
} from '../../src/hash/explain.js';
import { parseKeyRecord } from '../../src/hash/parse-key-record.js';
import { envValueDigest as h, KEY_FORMAT_VERSION, makeKeyRecord, type KeyRecord } from '../../src/hash/task-key.js';

const A = `1a2b3c4d${'0'.repeat(56)}` as FileDigest;
const B = `5e6f7a8b${'f'.repeat(56)}` as FileDigest;
const R1 = 'c'.repeat(64) as ResultHash;
const R2 = 'd'.repeat(64) as ResultHash;

const base = makeKeyRecord({
  cmd: 'gcc -o hello src/a.c',
  inputs: [
    { path: 'src/a.c', digest: A, executable: false },
    { path: 'src/old.c', digest: A, executable: false },
    { path: 'tool.sh', digest: A, executable: false },
  ],
  deps: [{ task: 'build', result: R1 }, { task: 'old', result: R1 }],
  outputs: ['hello'],
  env: [{ name: 'CC', value: h('gcc') }, { name: 'GONE', value: h('x') }],
});

const texts = (prev: KeyRecord | undefined, cur: KeyRecord): string[] => explainKeyChange(prev, cur).map(renderReason);

describe('explainKeyChange + renderReason', () => {
  test('equal records: no reasons', () => {
    assert.deepEqual(explainKeyChange(base, makeKeyRecord({ ...base, inputs: [...base.inputs].reverse() })), []);
  });

  test('no previous record', () => {
    assert.deepEqual(explainKeyChange(undefined, base), [{ kind: 'no-previous-record' }]);
    assert.deepEqual(texts(undefined, base), ['no previous record']);
  });

  test('command changed, with a short diff', () => {
    const cur = { ...base, cmd: 'gcc -O2 -o hello src/a.c' };
    assert.deepEqual(explainKeyChange(base, cur), [{ kind: 'command-changed', from: base.cmd, to: cur.cmd }]);
    assert.deepEqual(texts(base, cur), ['command changed\n  - gcc -o hello src/a.c\n  + gcc -O2 -o hello src/a.c']);
  });

  test('input content changed: the first 8 hex digits of each digest', () => {
    const cur = { ...base, inputs: base.inputs.map((i) => (i.path === 'src/a.c' ? { ...i, digest: B } : i)) };
    assert.deepEqual(explainKeyChange(base, cur), [{ kind: 'input-changed', path: 'src/a.c', from: A, to: B }]);
    assert.deepEqual(texts(base, cur), ['input src/a.c changed (digest 1a2b3c4d…→5e6f7a8b…)']);
  });

  test('inputs added and removed, in path order', () => {
    const cur = makeKeyRecord({ ...base, inputs: [...base.inputs.filter((i) => i.path !== 'src/old.c'), { path: 'src/b.c', digest: B, executable: false }] });
    assert.deepEqual(texts(base, cur), ['input src/b.c added', 'input src/old.c removed']);
  });

  test('executable bit: became / stopped being executable', () => {
    const exec = { ...base, inputs: base.inputs.map((i) => (i.path === 'tool.sh' ? { ...i, executable: true } : i)) };
    assert.deepEqual(explainKeyChange(base, exec), [{ kind: 'input-mode-changed', path: 'tool.sh', executable: true }]);
    assert.deepEqual(texts(base, exec), ['input tool.sh became executable']);
    assert.deepEqual(texts(exec, base), ['input tool.sh stopped being executable']);
  });

  test('content and mode of one input both changed: two reasons', () => {
    const cur = { ...base, inputs: base.inputs.map((i) => (i.path === 'tool.sh' ? { ...i, digest: B, executable: true } : i)) };
    assert.deepEqual(texts(base, cur), ['input tool.sh changed (digest 1a2b3c4d…→5e6f7a8b…)', 'input tool.sh became executable']);
  });

  test('env changed / added / removed, never with a value; unset vs empty is a change', () => {
    const cur = makeKeyRecord({ ...base, env: [{ name: 'CC', value: h('clang-secret') }, { name: 'NEW', value: h(null) }] });
    assert.deepEqual(explainKeyChange(base, cur), [
      { kind: 'env-changed', name: 'CC' },
      { kind: 'env-removed', name: 'GONE' },
      { kind: 'env-added', name: 'NEW' },
    ]);
    assert.deepEqual(texts(base, cur), ['env CC changed', 'env GONE removed', 'env NEW added']);
    const unset = makeKeyRecord({ ...base, env: [{ name: 'CC', value: h(null) }, { name: 'GONE', value: h('x') }] });
    const empty = makeKeyRecord({ ...base, env: [{ name: 'CC', value: h('') }, { name: 'GONE', value: h('x') }] });
    assert.deepEqual(texts(unset, empty), ['env CC changed']);
    assert.ok(!JSON.stringify(explainKeyChange(base, cur)).includes('secret'));
    assert.ok(!JSON.stringify(cur).includes('clang-secret'));
  });

  test('dependencies: different output, added, removed', () => {
    const cur = makeKeyRecord({ ...base, deps: [{ task: 'build', result: R2 }, { task: 'gen', result: R1 }] });
    assert.deepEqual(explainKeyChange(base, cur), [
      { kind: 'dependency-changed', task: 'build' },
      { kind: 'dependency-added', task: 'gen' },
      { kind: 'dependency-removed', task: 'old' },
    ]);
    assert.deepEqual(texts(base, cur), ['dependency build produced different output', 'dependency gen added', 'dependency old removed']);
  });

  test('declared outputs changed', () => {
    const cur = makeKeyRecord({ ...base, outputs: ['hello', 'hello.map'] });
    assert.deepEqual(explainKeyChange(base, cur), [{ kind: 'outputs-changed', from: ['hello'], to: ['hello', 'hello.map'] }]);
    assert.deepEqual(texts(base, cur), ['declared outputs changed']);
  });

  test('key format changed: nothing else is compared across versions', () => {
    const old = { ...base, version: KEY_FORMAT_VERSION - 1, cmd: 'something else' };
    assert.deepEqual(explainKeyChange(old, base), [{ kind: 'key-format-changed', from: KEY_FORMAT_VERSION - 1, to: KEY_FORMAT_VERSION }]);
    assert.deepEqual(texts(old, base), ['key format changed']);
  });

  test('several changes come in a fixed order: command, inputs, env, dependencies, outputs', () => {
    const cur = makeKeyRecord({
      cmd: 'x',
      inputs: base.inputs.slice(1),
      deps: base.deps.slice(1),
      outputs: [],
      env: base.env.slice(1),
    });
    assert.deepEqual(
      explainKeyChange(base, cur).map((r) => r.kind),
      ['command-changed', 'input-removed', 'env-removed', 'dependency-removed', 'outputs-changed'],
    );
  });
});

describe('situational reasons', () => {
  const cases: [ExplainReason, string][] = [
    [{ kind: 'record-corrupt' }, 'record found but corrupt'],
    [{ kind: 'no-record-for-key' }, 'no cached result for this key'],
    [{ kind: 'dependency-will-run', task: 'build' }, 'dependency "build" will run'],
    [{ kind: 'key-unavailable', message: 'task "t": input "x" not found' }, 'task "t": input "x" not found'],
    [{ kind: 'forced' }, 'forced (--force)'],
    [{ kind: 'cache-disabled' }, 'caching is disabled for this task (cache = false)'],
    [{ kind: 'cache-error' }, 'the cache could not be read'],
    [{ kind: 'up-to-date' }, 'outputs match the cached result'],
    [{ kind: 'cache-hit' }, 'cached result found for this key'],
    [{ kind: 'outputs-modified' }, 'outputs in the workspace differ from the cached result'],
  ];
  for (const [reason, text] of cases) {
    test(`${reason.kind}: "${text}"`, () => {
      assert.equal(renderReason(reason), text);
      assert.equal(renderReasonShort(reason), text);
    });
  }

  test('every kind is covered by these tests', () => {
    // A Record over the union: adding a kind without listing (and testing) it fails the type check.
    const all: Record<ExplainReasonKind, true> = {
      'no-previous-record': true, 'record-corrupt': true, 'no-record-for-key': true, 'dependency-will-run': true,
      'key-unavailable': true, forced: true, 'cache-disabled': true, 'cache-error': true, 'up-to-date': true,
      'cache-hit': true, 'outputs-modified': true, 'key-format-changed': true, 'command-changed': true,
      'input-changed': true, 'input-added': true, 'input-removed': true, 'input-mode-changed': true, 'env-changed': true,
      'env-added': true, 'env-removed': true, 'dependency-changed': true, 'dependency-added': true,
      'dependency-removed': true, 'outputs-changed': true,
    };
    const covered = new Set<string>([
      ...cases.map(([r]) => r.kind),
      'no-previous-record', 'command-changed', 'input-changed', 'input-added', 'input-removed', 'input-mode-changed',
      'env-changed', 'env-added', 'env-removed', 'dependency-changed', 'dependency-added', 'dependency-removed',
      'outputs-changed', 'key-format-changed',
    ]);
    assert.deepEqual([...covered].sort(), Object.keys(all).sort());
  });
});

describe('summarizeReasons (run --explain)', () => {
  test('the first reason in short form, and how many more', () => {
    assert.equal(summarizeReasons([]), undefined);
    assert.equal(summarizeReasons([{ kind: 'input-changed', path: 'hello.c', from: A, to: B }]), 'input hello.c changed');
    assert.equal(
      summarizeReasons([{ kind: 'command-changed', from: 'a', to: 'b' }, { kind: 'env-changed', name: 'CC' }, { kind: 'forced' }]),
      'command changed, +2 more',
    );
  });
});

describe('parseKeyRecord', () => {
  test('round-trips a stored record; rejects malformed ones; keeps only the version of another format', () => {
    assert.deepEqual(parseKeyRecord(JSON.parse(JSON.stringify(base))), base);
    assert.equal(parseKeyRecord({ ...base, inputs: [{ path: 'a', digest: 'nothex', executable: false }] }), undefined);
    assert.equal(parseKeyRecord({ ...base, cmd: 3 }), undefined);
    assert.equal(parseKeyRecord('x'), undefined);
    assert.deepEqual(parseKeyRecord({ version: 99, whatever: true }), { version: 99, cmd: '', inputs: [], deps: [], outputs: [], env: [] });
  });
});
