import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import { describeBlobStoreContract, getBytes, listAll, readAllBytes } from '../contract/blob-store-contract.js';

describeBlobStoreContract('memory', {
  make: async () => new MemoryBlobStore({ chunkSize: 1 << 20 }),
  makeMissingBucket: async () => new MemoryBlobStore({ bucketExists: false }),
  listKeys: 1001,
});

function kind(k: BlobStoreError['kind']): (e: unknown) => boolean {
  return (e) => e instanceof BlobStoreError && e.kind === k;
}

describe('MemoryBlobStore fault injection', () => {
  const body = Buffer.from('0123456789'.repeat(100));

  it('throws an injected error for the given number of calls, then recovers', async () => {
    const s = new MemoryBlobStore();
    s.seed('cas/a', body);
    s.inject('get', { type: 'error', kind: 'transient', status: 503 }, { times: 2 });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(s.get('cas/a'), (e: unknown) => e instanceof BlobStoreError && e.kind === 'transient' && e.status === 503);
    }
    const ok = await s.get('cas/a');
    assert.ok(ok !== undefined);
    assert.deepEqual(await readAllBytes(ok), body);
    assert.equal(s.calls.get, 3);
    assert.equal(s.calls.put, 0);
  });

  it('scopes faults by operation, wildcard and key prefix', async () => {
    const s = new MemoryBlobStore();
    s.inject('*', { type: 'error', kind: 'auth', status: 403 }, { keyPrefix: 'ac/' });
    await s.put('cas/x', body);
    await assert.rejects(s.put('ac/x', body), kind('auth'));
    await assert.rejects(s.has('ac/x'), kind('auth'));
    assert.equal(await s.has('cas/x'), true);
    s.clearFaults();
    await s.put('ac/x', body);
    assert.deepEqual(s.keys(), ['ac/x', 'cas/x']);
    assert.equal(s.calls.put, 3);
    s.resetCalls();
    assert.equal(s.calls.put, 0);
  });

  it('hangs until the signal aborts, then fails as transient', async () => {
    const s = new MemoryBlobStore();
    s.inject('has', { type: 'hang' });
    const t0 = Date.now();
    await assert.rejects(s.has('cas/a', { signal: AbortSignal.timeout(80) }), kind('transient'));
    assert.ok(Date.now() - t0 >= 70);
  });

  it('delays an answer (and a delay is abortable)', async () => {
    const s = new MemoryBlobStore();
    s.seed('cas/a', body);
    s.inject('stat', { type: 'delay', ms: 60 }, { times: 1 });
    const t0 = Date.now();
    assert.deepEqual(await s.stat('cas/a'), { key: 'cas/a', size: body.length });
    assert.ok(Date.now() - t0 >= 50);
    s.inject('stat', { type: 'delay', ms: 10_000 });
    await assert.rejects(s.stat('cas/a', { signal: AbortSignal.timeout(20) }), kind('transient'));
  });

  it('a truncated body errors the stream after the bytes it delivered', async () => {
    const s = new MemoryBlobStore({ chunkSize: 100 });
    s.seed('cas/a', body);
    s.inject('get', { type: 'truncate', bytes: 250 }, { times: 1 });
    const stream = await s.get('cas/a');
    assert.ok(stream !== undefined);
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const c of stream) got += (c as Buffer).length;
      })(),
      kind('integrity'),
    );
    assert.equal(got, 250);
  });

  it('a quiet truncation ends the stream early without an error (for testing layers above)', async () => {
    const s = new MemoryBlobStore();
    s.seed('cas/a', body);
    s.inject('get', { type: 'truncate', bytes: 10, quiet: true });
    const stream = await s.get('cas/a');
    assert.ok(stream !== undefined);
    assert.deepEqual(await readAllBytes(stream), body.subarray(0, 10));
  });

  it('corrupt delivers the full length with flipped bytes', async () => {
    const s = new MemoryBlobStore();
    s.seed('cas/a', body);
    s.inject('get', { type: 'corrupt' });
    const got = await getBytes(s, 'cas/a');
    assert.ok(got !== undefined);
    assert.equal(got.length, body.length);
    assert.notDeepEqual(got, body);
    assert.deepEqual(s.peek('cas/a'), body, 'stored bytes stay intact');
  });

  it('reset errors a download mid-body and fails an upload without storing it', async () => {
    const s = new MemoryBlobStore({ chunkSize: 64 });
    s.seed('cas/a', body);
    s.inject('get', { type: 'reset', afterBytes: 128 });
    const stream = await s.get('cas/a');
    assert.ok(stream !== undefined);
    await assert.rejects(readAllBytes(stream), kind('transient'));
    s.inject('put', { type: 'reset', afterBytes: 5 });
    await assert.rejects(s.put('cas/b', Readable.from([body])), kind('transient'));
    assert.equal(s.peek('cas/b'), undefined);
  });

  it('a put whose body does not match the announced size stores nothing', async () => {
    const s = new MemoryBlobStore();
    await assert.rejects(s.put('cas/a', body, { size: 5 }), kind('integrity'));
    assert.deepEqual(await listAll(s, ''), []);
  });

  it('a read in progress keeps its snapshot when the blob is replaced', async () => {
    const s = new MemoryBlobStore({ chunkSize: 10 });
    s.seed('cas/a', body);
    const stream = await s.get('cas/a');
    await s.put('cas/a', Buffer.from('new'));
    assert.ok(stream !== undefined);
    assert.deepEqual(await readAllBytes(stream), body);
    await s.close();
    assert.equal(s.closed, true);
  });
});
