import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { after, test } from 'node:test';
import { FreshCopies } from '../../src/cas/fresh-copies.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-fresh-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function staged(name: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, name);
  return p;
}

test('a copy is handed out once', () => {
  const f = new FreshCopies();
  f.add('a', { kind: 'buffer', bytes: Buffer.from('x') });
  assert.deepEqual(f.take('a'), { kind: 'buffer', bytes: Buffer.from('x') });
  assert.equal(f.take('a'), undefined);
});

test('the oldest buffers go first when the byte limit is exceeded', () => {
  const f = new FreshCopies({ maxBufferBytes: 10 });
  f.add('a', { kind: 'buffer', bytes: Buffer.alloc(4) });
  f.add('b', { kind: 'buffer', bytes: Buffer.alloc(4) });
  f.add('c', { kind: 'buffer', bytes: Buffer.alloc(4) });
  assert.equal(f.take('a'), undefined);
  assert.ok(f.take('b'));
  assert.ok(f.take('c'));
});

test('dropped and cleared staged files are deleted; a taken one belongs to the taker', async () => {
  const f = new FreshCopies({ maxFiles: 2 });
  const [p1, p2, p3, p4] = ['s1', 's2', 's3', 's4'].map(staged) as [string, string, string, string];
  f.add('1', { kind: 'file', path: p1, size: 2 });
  f.add('2', { kind: 'file', path: p2, size: 2 });
  f.add('3', { kind: 'file', path: p3, size: 2 });
  await tick();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(existsSync(p1), false, 'the oldest was dropped and deleted');
  assert.deepEqual(f.take('2'), { kind: 'file', path: p2, size: 2 });
  f.add('4', { kind: 'file', path: p4, size: 2 });
  f.clear();
  assert.equal(existsSync(p2), true, 'taken: not the set\'s to delete');
  assert.equal(existsSync(p3), false);
  assert.equal(existsSync(p4), false);
  assert.equal(f.take('3'), undefined);
});

test('discard forgets one copy and deletes its staged file', async () => {
  const f = new FreshCopies();
  const p = staged('d1');
  f.add('d', { kind: 'file', path: p, size: 2 });
  f.discard('d');
  f.discard('never-added');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(existsSync(p), false);
  assert.equal(f.take('d'), undefined);
});

test('staging can be switched off (cache on another file system)', () => {
  const f = new FreshCopies();
  assert.equal(f.stagingFiles, true);
  f.disableFiles();
  assert.equal(f.stagingFiles, false);
});
