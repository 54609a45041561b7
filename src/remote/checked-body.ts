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
 *
 * With `idleTimeoutMs`, a body that stalls errors too (`transient`): some HTTP stacks (the GCS
 * SDK's) neither end nor error their stream when the connection closes early, they just stop.
 * Only starvation counts: while the consumer is not reading (our buffer is full), silence is
 * back-pressure, not a stall.
 */
export function checkedBody(
  source: Readable,
  expected: number | undefined,
  what: string,
  classify: (e: unknown) => BlobStoreError,
  idleTimeoutMs?: number,
): Readable {
  let received = 0;
  let lastData = Date.now();
  let watchdog: NodeJS.Timeout | undefined;
  const out = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      received += chunk.length;
      lastData = Date.now();
      if (expected !== undefined && received > expected) {
        cb(new BlobStoreError('integrity', `${what}: received more than the announced ${expected} bytes`));
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback): void {
      clearInterval(watchdog); // everything arrived: waiting for the reader is not a stall
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
  if (idleTimeoutMs !== undefined && idleTimeoutMs > 0) {
    watchdog = setInterval(() => {
      const starving = out.readableLength < out.readableHighWaterMark;
      if (!starving) lastData = Date.now();
      else if (Date.now() - lastData > idleTimeoutMs) {
        out.destroy(new BlobStoreError('transient', `${what}: body stalled after ${received} bytes (nothing for ${idleTimeoutMs} ms)`));
      }
    }, Math.max(10, Math.floor(idleTimeoutMs / 4)));
    watchdog.unref();
  }
  // If the consumer gives up, release the underlying socket.
  out.on('close', () => {
    clearInterval(watchdog);
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}
