import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { checkedBody } from '../../src/remote/checked-body.js';
import { readAllBytes } from '../contract/blob-store-contract.js';

const classify = (e: unknown): BlobStoreError => new BlobStoreError('transient', `classified: ${(e as Error).message}`);
const kind = (k: BlobStoreError['kind'], re?: RegExp) => (e: unknown): boolean =>
  e instanceof BlobStoreError && e.kind === k && (re === undefined || re.test(e.message));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('checkedBody', () => {
  it('passes a body of the announced length through unchanged', async () => {
    const body = Buffer.from('0123456789');
    assert.deepEqual(await readAllBytes(checkedBody(Readable.from([body.subarray(0, 4), body.subarray(4)]), 10, 'w', classify)), body);
    assert.deepEqual(await readAllBytes(checkedBody(Readable.from([body]), undefined, 'w', classify)), body);
  });

  it('errors a body that ends short or runs long, instead of ending quietly', async () => {
    await assert.rejects(readAllBytes(checkedBody(Readable.from([Buffer.alloc(6)]), 10, 'w', classify)), kind('integrity', /^w: body ended after 6 of 10 bytes$/));
    await assert.rejects(readAllBytes(checkedBody(Readable.from([Buffer.alloc(12)]), 10, 'w', classify)), kind('integrity', /more than the announced 10/));
  });

  it('maps errors of the source through classify, and an early close to transient', async () => {
    const a = new PassThrough();
    const outA = checkedBody(a, 10, 'w', classify);
    setImmediate(() => a.destroy(new Error('read ECONNRESET')));
    await assert.rejects(readAllBytes(outA), kind('transient', /classified: read ECONNRESET/));
    const b = new PassThrough();
    const outB = checkedBody(b, 10, 'w', classify);
    setImmediate(() => {
      b.write(Buffer.alloc(3));
      b.destroy();
    });
    await assert.rejects(readAllBytes(outB), kind('transient', /connection closed after/));
  });

  it('errors a body that stalls while the reader waits', async () => {
    const src = new PassThrough();
    src.write(Buffer.alloc(5));
    const out = checkedBody(src, 10, 'w', classify, 60);
    // The watchdog does not hold the event loop (a real stalled socket does); this timer plays that part.
    const socket = setInterval(() => undefined, 1000);
    await assert.rejects(readAllBytes(out), kind('transient', /stalled after 5 bytes/));
    clearInterval(socket);
  });

  it('does not count back-pressure or an unread complete body as a stall', async () => {
    const big = Buffer.alloc(1 << 20, 1);
    const slow = checkedBody(Readable.from([big]), big.length, 'w', classify, 40);
    await sleep(150); // nobody reads: the buffers are full, which is not a stall
    assert.equal((await readAllBytes(slow)).length, big.length);
    const small = checkedBody(Readable.from([Buffer.alloc(10)]), 10, 'w', classify, 40);
    await sleep(150); // all of it arrived; reading it late is fine
    assert.equal((await readAllBytes(small)).length, 10);
  });

  it('destroys the source when the reader gives up', async () => {
    const src = new PassThrough();
    const out = checkedBody(src, 10, 'w', classify);
    out.destroy();
    await sleep(5);
    assert.equal(src.destroyed, true);
  });
});
