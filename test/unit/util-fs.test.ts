import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { creatingParent, creatingParentSync, unlinkIfPresent } from '../../src/util/fs.js';

const root = mkdtempSync(path.join(tmpdir(), 'reprovm-util-fs-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('creatingParent creates a missing parent directory once and runs the operation again', async () => {
  const file = path.join(root, 'a', 'b', 'f');
  let calls = 0;
  await creatingParent(file, async () => {
    calls++;
    await writeFile(file, 'x', { flag: 'wx' });
  });
  assert.equal(calls, 2);
  assert.equal(readFileSync(file, 'utf8'), 'x');
  const sync = path.join(root, 's', 'f');
  creatingParentSync(sync, () => writeFileSync(sync, 'y', { flag: 'wx' }));
  assert.equal(readFileSync(sync, 'utf8'), 'y');
});

test('creatingParent passes other errors on without retrying', async () => {
  const file = path.join(root, 'a', 'b', 'f'); // exists after the test above
  let calls = 0;
  await assert.rejects(creatingParent(file, async () => {
    calls++;
    await writeFile(file, 'z', { flag: 'wx' });
  }), { code: 'EEXIST' });
  assert.equal(calls, 1);
  assert.throws(() => creatingParentSync(file, () => writeFileSync(file, 'z', { flag: 'wx' })), { code: 'EEXIST' });
});

test('unlinkIfPresent removes a file, is quiet about a missing one, and passes other errors on', async () => {
  const file = path.join(root, 'gone');
  writeFileSync(file, 'x');
  await unlinkIfPresent(file);
  assert.equal(existsSync(file), false);
  await unlinkIfPresent(file);
  const dir = path.join(root, 'dir');
  mkdirSync(dir);
  await assert.rejects(unlinkIfPresent(dir), (e: unknown) => ['EISDIR', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? ''));
});
