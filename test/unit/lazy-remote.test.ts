import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LazyBlobStore } from '../../src/cache/lazy-remote.js';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';

test('the real store is opened on the first call only, once, and not at all when unused', async () => {
  let opened = 0;
  const inner = new MemoryBlobStore();
  const lazy = new LazyBlobStore('s3://b/p', async () => {
    opened += 1;
    return inner;
  });
  assert.equal(lazy.description, 's3://b/p');
  assert.equal(opened, 0);
  await Promise.all([lazy.put('a', Buffer.from('x')), lazy.has('a'), lazy.stat('a')]);
  assert.equal(opened, 1);
  const keys: string[] = [];
  for await (const b of lazy.list('')) keys.push(b.key);
  assert.deepEqual(keys, ['a']);
  await lazy.putFrom('b', () => Buffer.from('y'));
  assert.deepEqual(inner.peek('b'), Buffer.from('y'));
  await lazy.close();
  assert.equal(inner.closed, true);

  let never = 0;
  await new LazyBlobStore('x', async () => {
    never += 1;
    return new MemoryBlobStore();
  }).close();
  assert.equal(never, 0);
});

test('a failure to open is thrown from the calls', async () => {
  const lazy = new LazyBlobStore('azblob://c/p', async () => {
    throw new BlobStoreError('permanent', 'no Azure account');
  });
  await assert.rejects(lazy.has('k'), /no Azure account/);
  await lazy.close();
});
