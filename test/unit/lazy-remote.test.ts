import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LazyBlobStore, warmUpForColdWorkspace } from '../../src/cache/lazy-remote.js';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import { ResilientBlobStore } from '../../src/remote/resilient-store.js';

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

test('warmUp opens the store once in the background; a failure surfaces on the first call', async () => {
  let opened = 0;
  const inner = new MemoryBlobStore();
  const lazy = new LazyBlobStore('s3://b/p', async () => {
    opened += 1;
    return inner;
  });
  lazy.warmUp();
  lazy.warmUp();
  await lazy.has('k');
  assert.equal(opened, 1);

  const failing = new LazyBlobStore('s3://b/p', async () => {
    throw new BlobStoreError('transient', 'SDK missing');
  });
  failing.warmUp(); // no unhandled rejection, nothing thrown
  await new Promise((r) => setImmediate(r));
  await assert.rejects(failing.get('k'), /SDK missing/);
});

test('only a workspace that never ran (no state file) warms the remote up', async () => {
  const ws = mkdtempSync(path.join(tmpdir(), 'reprovm-warm-'));
  try {
    let opened = 0;
    const make = (): LazyBlobStore =>
      new LazyBlobStore('s3://b/p', async () => {
        opened += 1;
        return new MemoryBlobStore();
      });
    warmUpForColdWorkspace(make(), ws);
    await new Promise((r) => setImmediate(r));
    assert.equal(opened, 1, 'cold workspace: opened at once');
    mkdirSync(path.join(ws, '.reprovm'));
    writeFileSync(path.join(ws, '.reprovm', 'state.json'), '{}');
    warmUpForColdWorkspace(make(), ws);
    await new Promise((r) => setImmediate(r));
    assert.equal(opened, 1, 'a workspace with state stays lazy');
    warmUpForColdWorkspace(new MemoryBlobStore(), ws); // not lazy: nothing to do
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test('getBytes goes to the real store\'s whole-object read when it has one (retried there), else reads its stream', async () => {
  const inner = new MemoryBlobStore();
  inner.seed('ac/k.json', Buffer.from('record'));
  inner.inject('get', { type: 'reset', afterBytes: 2 }, { times: 1 });
  const resilient = new LazyBlobStore('s3://b/p', async () => new ResilientBlobStore(inner, { retries: 1, baseDelayMs: 1, maxDelayMs: 1 }));
  assert.equal((await resilient.getBytes('ac/k.json', 100))?.toString(), 'record');
  assert.equal(inner.calls.get, 2, 'the reset body was read again by the resilient store');
  const plain = new LazyBlobStore('s3://b/p', async () => inner);
  assert.equal((await plain.getBytes('ac/k.json', 100))?.toString(), 'record');
  await assert.rejects(plain.getBytes('ac/k.json', 3), (e: unknown) => e instanceof BlobStoreError && e.kind === 'integrity' && /s3:\/\/b\/p: get ac\/k.json: larger than 3 bytes/.test(e.message));
  assert.equal(await plain.getBytes('ac/none.json', 100), undefined);
});
