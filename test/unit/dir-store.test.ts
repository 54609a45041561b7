import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirBlobStore, installIfAbsent } from '../../src/remote/dir-store.js';
import { describeBlobStoreContract, listAll } from '../contract/blob-store-contract.js';

const base = mkdtempSync(join(tmpdir(), 'reprovm-dirstore-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

describeBlobStoreContract('directory', {
  make: async () => {
    const root = join(base, `s${n++}`);
    mkdirSync(root);
    return new DirBlobStore(root, { fsync: false });
  },
  makeMissingBucket: async () => new DirBlobStore(join(base, `missing${n++}`, 'deeper')),
  bigBytes: 100_000_000,
  listKeys: 1001,
});

describe('DirBlobStore', () => {
  it('writes through temp files that are never listed, and leaves none behind', async () => {
    const root = join(base, 'tmpnames');
    const s = new DirBlobStore(root);
    await s.ensureBucket();
    await s.put('cas/ab/cdef', Buffer.from('x'));
    writeFileSync(join(root, 'cas', 'ab', '.cdef.tmp-123-0123456789ab'), 'torn');
    assert.deepEqual(await listAll(s, ''), [{ key: 'cas/ab/cdef', size: 1 }]);
    assert.deepEqual(readdirSync(join(root, 'cas', 'ab')).sort(), ['.cdef.tmp-123-0123456789ab', 'cdef']);
  });

  it('describes itself by its directory', () => {
    assert.equal(new DirBlobStore('/srv/backups').description, 'dir /srv/backups');
  });

  describe('create-only install on a file system without hard links', () => {
    /** link(2) as vfat and some network shares answer it. */
    const noLinks = (code: string) => async (): Promise<void> => {
      throw Object.assign(new Error(`link: ${code}`), { code });
    };
    const setUp = (name: string, existing?: string): { tmp: string; dest: string } => {
      const dir = join(base, name);
      mkdirSync(dir);
      const tmp = join(dir, '.x.tmp');
      writeFileSync(tmp, 'new');
      const dest = join(dir, 'x');
      if (existing !== undefined) writeFileSync(dest, existing);
      return { tmp, dest };
    };

    for (const code of ['EPERM', 'ENOTSUP', 'EOPNOTSUPP']) {
      it(`${code}: stores by rename when the key is absent`, async () => {
        const { tmp, dest } = setUp(`nolink-new-${code}`);
        assert.equal(await installIfAbsent(tmp, dest, noLinks(code)), 'stored');
        assert.equal(readFileSync(dest, 'utf8'), 'new');
        assert.equal(existsSync(tmp), false);
      });
    }

    it('answers "exists", keeps the old content and removes the temp file when the key is there', async () => {
      const { tmp, dest } = setUp('nolink-old', 'old');
      assert.equal(await installIfAbsent(tmp, dest, noLinks('EPERM')), 'exists');
      assert.equal(readFileSync(dest, 'utf8'), 'old');
      assert.equal(existsSync(tmp), false);
    });

    it('throws any other link error as it is', async () => {
      const { tmp, dest } = setUp('nolink-eacces');
      await assert.rejects(installIfAbsent(tmp, dest, noLinks('EACCES')), /link: EACCES/);
      assert.equal(existsSync(dest), false);
    });
  });
});
