import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fsyncDir, isTempName, replaceFileSync, tempNamePid, tempPathFor, writeFileAtomic } from '../../src/util/atomic-write.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprovm-aw-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('atomic-write', () => {
  it('names temp files next to the destination, recognisably', () => {
    const t = tempPathFor('/a/b/state.json');
    assert.equal(dirname(t), '/a/b');
    assert.match(basename(t), /^\.state\.json\.tmp-\d+-[0-9a-f]{12}$/);
    assert.ok(isTempName(basename(t)));
    assert.equal(tempNamePid(basename(t)), process.pid);
    assert.notEqual(tempPathFor('/a/b/state.json'), t);
    assert.equal(isTempName('state.json'), false);
    assert.equal(tempNamePid('state.json'), undefined);
  });

  it('replaces the file content and applies the mode, leaving no temp files', async () => {
    const p = join(dir, 'f.txt');
    await writeFile(p, 'old');
    await writeFileAtomic(p, 'new', { mode: 0o600 });
    assert.equal(await readFile(p, 'utf8'), 'new');
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    await writeFileAtomic(p, Buffer.from('bytes'), { fsync: false, fsyncDir: true });
    assert.equal(await readFile(p, 'utf8'), 'bytes');
    assert.deepEqual(await readdir(dir), ['f.txt']);
    await fsyncDir(join(dir, 'missing')); // best-effort: never throws
  });

  it('removes the temp file when the rename fails', async () => {
    const p = join(dir, 'occupied');
    await mkdir(join(p, 'child'), { recursive: true }); // a non-empty directory cannot be replaced
    await assert.rejects(writeFileAtomic(p, 'x'));
    assert.deepEqual(await readdir(dir), ['occupied']);
  });

  it('replaceFileSync sets exactly the mode asked for, whatever the umask, and cleans up after a failed rename', async () => {
    const old = process.umask(0o077);
    try {
      const p = join(dir, 'tool.sh');
      await writeFile(p, 'old');
      replaceFileSync(p, Buffer.from('#!/bin/sh\n'), 0o755);
      assert.equal((await stat(p)).mode & 0o777, 0o755);
      assert.equal(await readFile(p, 'utf8'), '#!/bin/sh\n');
    } finally {
      process.umask(old);
    }
    const busy = join(dir, 'busy');
    await mkdir(join(busy, 'child'), { recursive: true });
    assert.throws(() => replaceFileSync(busy, Buffer.from('x'), 0o644));
    assert.deepEqual((await readdir(dir)).sort(), ['busy', 'tool.sh']);
  });
});
