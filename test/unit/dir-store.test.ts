import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DirBlobStore } from '../../src/remote/dir-store.js';
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
});
