import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { FileDigest } from '../../src/hash/digest.js';
import { FileHasher, StatMemo, type StatMemoEntry } from '../../src/hash/file-hasher.js';

const sha = (b: Buffer | string): FileDigest => createHash('sha256').update(b).digest('hex') as FileDigest;
/** A clock far enough ahead that nothing written by the test counts as racy. */
const future = (): bigint => BigInt(Date.now() + 60_000) * 1_000_000n;

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprovm-hash-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileHasher', () => {
  it('hashes small and large (streamed) files', async () => {
    const hasher = new FileHasher(new StatMemo(), { now: future });
    for (const size of [0, 10, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 7]) {
      const data = randomBytes(size);
      const p = join(dir, `f${size}`);
      await writeFile(p, data);
      assert.deepEqual(await hasher.hashFile(p, `f${size}`), { digest: sha(data), size, executable: false });
      assert.deepEqual(await hasher.hashFileUncached(p), { digest: sha(data), size });
    }
  });

  it('reports the executable bit', async () => {
    const p = join(dir, 'run.sh');
    await writeFile(p, '#!/bin/sh\n');
    await chmod(p, 0o744);
    const facts = await new FileHasher(new StatMemo(), { now: future }).hashFile(p, 'run.sh');
    assert.equal(facts.executable, true);
  });

  it('a memo hit avoids reading the file', async () => {
    const p = join(dir, 'a.txt');
    await writeFile(p, 'aaaa');
    const memo = new StatMemo();
    const hasher = new FileHasher(memo, { now: future });
    const first = await hasher.hashFile(p, 'a.txt');
    assert.equal(hasher.filesRead, 1);
    assert.equal(memo.get('a.txt')?.digest, sha('aaaa'));
    const second = await hasher.hashFile(p, 'a.txt');
    assert.deepEqual(second, first);
    assert.equal(hasher.filesRead, 1, 'second call is served from the memo');
  });

  it('returns the memo digest when the stat is identical (no read at all)', async () => {
    const p = join(dir, 'b.txt');
    await writeFile(p, 'real content');
    const st = await stat(p, { bigint: true });
    const planted: StatMemoEntry = {
      size: Number(st.size),
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
      ino: String(st.ino),
      digest: sha('planted'),
    };
    const hasher = new FileHasher(new StatMemo({ 'b.txt': planted }), { now: future });
    const facts = await hasher.hashFile(p, 'b.txt');
    assert.equal(facts.digest, sha('planted'));
    assert.equal(hasher.filesRead, 0);
  });

  it('same size and restored mtime, but a new ctime, forces a re-hash', async () => {
    const p = join(dir, 'c.txt');
    await writeFile(p, 'aaaa');
    const past = new Date(Date.now() - 3600_000);
    await utimes(p, past, past);
    const memo = new StatMemo();
    const hasher = new FileHasher(memo, { now: future });
    assert.equal((await hasher.hashFile(p, 'c.txt')).digest, sha('aaaa'));
    const before = await stat(p, { bigint: true });
    await new Promise((r) => setTimeout(r, 20)); // let the (coarse) ctime clock tick
    await writeFile(p, 'bbbb');
    await utimes(p, past, past); // same size, same mtime: only ctime tells
    const after = await stat(p, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.notEqual(after.ctimeNs, before.ctimeNs);
    assert.equal((await hasher.hashFile(p, 'c.txt')).digest, sha('bbbb'));
    assert.equal(hasher.filesRead, 2);
  });

  it('does not memoise racy entries (modified within the window of the hash start)', async () => {
    const p = join(dir, 'd.txt');
    await writeFile(p, 'fresh');
    const memo = new StatMemo();
    const hasher = new FileHasher(memo); // real clock: the file was just written
    assert.equal((await hasher.hashFile(p, 'd.txt')).digest, sha('fresh'));
    assert.equal(memo.get('d.txt'), undefined);
    await hasher.hashFile(p, 'd.txt');
    assert.equal(hasher.filesRead, 2, 're-hashed because the entry was not stored');

    const relaxed = new FileHasher(memo, { racyWindowNs: 0n, now: future });
    await relaxed.hashFile(p, 'd.txt');
    assert.equal(memo.get('d.txt')?.digest, sha('fresh'));
  });

  it('shares one read between concurrent calls for the same key', async () => {
    const p = join(dir, 'e.bin');
    const data = randomBytes(2 * 1024 * 1024);
    await writeFile(p, data);
    const hasher = new FileHasher(new StatMemo(), { now: future });
    const all = await Promise.all(Array.from({ length: 10 }, () => hasher.hashFile(p, 'e.bin')));
    for (const f of all) assert.equal(f.digest, sha(data));
    assert.equal(hasher.filesRead, 1);
  });

  it('propagates fs errors for missing files', async () => {
    const hasher = new FileHasher(new StatMemo());
    await assert.rejects(hasher.hashFile(join(dir, 'nope'), 'nope'), { code: 'ENOENT' });
  });
});

describe('StatMemo', () => {
  const entry = (d: string): StatMemoEntry => ({ size: 1, mtimeNs: '1', ctimeNs: '2', ino: '3', digest: sha(d) });

  it('serialises sorted, prunes, and drops malformed entries', () => {
    const bogus = { size: 1, mtimeNs: 'x', ctimeNs: '2', ino: '3', digest: 'nope' } as unknown as StatMemoEntry;
    const memo = new StatMemo({ b: entry('b'), a: entry('a'), bad: bogus, c: entry('c') });
    assert.deepEqual(Object.keys(memo.toJSON()), ['a', 'b', 'c']);
    memo.prune(new Set(['a', 'c']));
    assert.deepEqual(Object.keys(memo.toJSON()), ['a', 'c']);
    memo.delete('a');
    assert.equal(memo.get('a'), undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(memo)), { c: entry('c') });
  });
});
