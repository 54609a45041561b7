/**
 * Body streams that cannot end quietly short. A download whose connection drops after part of
 * the body has been received must surface as an error, never as a shorter "successful" read:
 * otherwise a truncated blob would look like a complete one until some later digest check.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { BlobStoreError } from './blob-store.js';

/**
 * Wraps `source` so that the returned stream errors with an `integrity` {@link BlobStoreError}
 * when it ends with fewer (or more) bytes than `expected`, and turns any error of `source`
 * into a BlobStoreError through `classify`. `expected` undefined means "unknown": only the
 * error mapping applies.
 */
export function checkedBody(
  source: Readable,
  expected: number | undefined,
  what: string,
  classify: (e: unknown) => BlobStoreError,
): Readable {
  let received = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      received += chunk.length;
      if (expected !== undefined && received > expected) {
        cb(new BlobStoreError('integrity', `${what}: received more than the announced ${expected} bytes`));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback): void {
      if (expected !== undefined && received !== expected) {
        cb(new BlobStoreError('integrity', `${what}: body ended after ${received} of ${expected} bytes`));
        return;
      }
      cb();
    },
  });
  source.on('error', (e: unknown) => {
    out.destroy(e instanceof BlobStoreError ? e : classify(e));
  });
  // An early 'close' without 'end' (socket destroyed without an error event) is a truncation too.
  source.on('close', () => {
    if (!source.readableEnded && !out.destroyed) {
      out.destroy(new BlobStoreError('transient', `${what}: connection closed after ${received} bytes`));
    }
  });
  // If the consumer gives up, release the underlying socket.
  out.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}
