/**
 * Small objects (action records) read whole into memory. Through a store that can
 * (`ResilientBlobStore.getBytes`) a record whose body fails half-way is retried like any other
 * transient failure, which a streamed `get` cannot be (its stream was handed out already); and
 * no stream layers are stacked per record (the resilient store's pass-through stream, an async
 * iterator). Measured on a restore of 1,000 records from s3rver: no difference in time; the
 * retry is the point. {@link readBody} collects a body with plain listeners.
 */
import type { Readable } from 'node:stream';
import { BlobStoreError, type BlobStore, type RequestOptions } from './blob-store.js';

/**
 * The whole of `body`; refused as `integrity` (and destroyed) past `maxBytes`. `onChunk` is
 * told of every chunk. Errors of the body are passed on as they are.
 */
export function readBody(body: Readable, maxBytes: number, what: string, onChunk?: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      onChunk?.();
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy(new BlobStoreError('integrity', `${what}: larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    body.once('error', reject);
    // Destroyed without an error (nothing else should do that, but then it is not complete).
    body.once('close', () => {
      if (!body.readableEnded) reject(new BlobStoreError('transient', `${what}: the body was closed after ${size} bytes`));
    });
  });
}

/** A store that reads small objects whole itself. */
export interface SmallReader {
  getBytes(key: string, maxBytes: number, opts?: RequestOptions): Promise<Buffer | undefined>;
}

function canReadSmall(store: BlobStore): store is BlobStore & SmallReader {
  return typeof (store as Partial<SmallReader>).getBytes === 'function';
}

/** The object `key` of `store` whole (undefined when it does not exist), refused as `integrity` past `maxBytes`. */
export async function getSmall(store: BlobStore, key: string, maxBytes: number, what: string, opts?: RequestOptions): Promise<Buffer | undefined> {
  if (canReadSmall(store)) return store.getBytes(key, maxBytes, opts);
  const body = await store.get(key, opts);
  return body === undefined ? undefined : readBody(body, maxBytes, what);
}
