/**
 * The one-pass import of a large remote blob: while the body downloads, its compressed bytes
 * are appended to the object's temp file (past the page cache where the file system allows,
 * see util/direct-appender.ts) and, at the same time, decoded into a ring of 1 MiB
 * slots that are hashed (on the hash pool's worker thread when it is up) and, when a restore
 * follows, written to a staged raw file (cas/raw-file.ts; past the page cache too unless
 * `[cache] direct_io` says otherwise). So a remote hit writes each byte once per file and
 * decodes and hashes it once, instead of importing the object, then reading, decoding and
 * hashing it again to restore it.
 *
 * Nothing is renamed here: the caller renames the temp object into the CAS, and hands the
 * staged file to the restore, only when the decoded size equals the header's and the digest
 * equals the object's name; otherwise both are deleted.
 */
import { createHash } from 'node:crypto';
import { CodecError, createStepDecoder, type Natives, type ObjectHeader } from '../cas/codec.js';
import { SLOT_SIZE, type HashJob, type HashPool } from '../cas/hash-pool.js';
import type { RawFile } from '../cas/raw-file.js';
import type { FileAppender } from '../util/direct-appender.js';

/** Where the bytes go; undefined members are not written. */
export interface StreamTargets {
  /** The object's temp file: every compressed byte, header included, in order. */
  readonly object?: FileAppender;
  /** The staged raw file: the decoded bytes. */
  readonly raw?: RawFile;
}

/** Mark a promise as handled now (it is awaited later), so an early rejection is not "unhandled". */
function settleLater<P extends Promise<unknown>>(p: P): P {
  p.catch(() => undefined);
  return p;
}

/** A hash job without a pool (verification only): two plain slots hashed inline. */
function inlineJob(): HashJob {
  const hash = createHash('sha256');
  const slots = [Buffer.allocUnsafe(SLOT_SIZE), Buffer.allocUnsafe(SLOT_SIZE)];
  return {
    slots,
    update: async (i, n) => void hash.update((slots[i] as Buffer).subarray(0, n)),
    digest: async () => hash.digest('hex'),
    abort: async () => undefined,
  };
}

/** Feeds a streamed object (header already parsed) through decoding, hashing and the targets. */
export interface ObjectStream {
  /** Payload bytes (after the header); the object file gets them via {@link writeObject}. */
  payload(chunk: Buffer): Promise<void>;
  /** Compressed bytes for the object file, header included, in order. */
  writeObject(chunk: Buffer): Promise<void>;
  /** Ends the stream: raw size and digest. Throws CodecError for a bad payload, I/O errors as they are. */
  finish(): Promise<{ size: number; digest: string }>;
  /** Releases the hash job after a failure (waits for writes in flight). */
  abort(): Promise<void>;
}

/** Starts the one-pass import of an object with `header`; see the module comment. */
export async function startObjectStream(natives: Natives, header: ObjectHeader, targets: StreamTargets, pool: HashPool | undefined): Promise<ObjectStream> {
  const decoder = createStepDecoder(natives, header.codec);
  const job = pool === undefined ? inlineJob() : await pool.acquire(header.size);
  const object = targets.object;
  const raw = targets.raw;
  const busy: Array<Promise<unknown> | undefined> = job.slots.map(() => undefined);
  let slot = 0;
  let fill = 0;
  let size = 0;

  /** Hands the current slot to the hash (and the raw file) and moves to the next one. */
  const flushSlot = async (): Promise<void> => {
    if (fill === 0) return;
    const buf = job.slots[slot] as Buffer;
    size += fill;
    if (size > header.size) throw new CodecError(`decodes to more than the ${header.size} bytes in its header`);
    const hashed = job.update(slot, fill);
    busy[slot] = settleLater(raw === undefined ? hashed : Promise.all([hashed, raw.write(buf, fill, size - fill)]));
    slot = (slot + 1) % job.slots.length;
    fill = 0;
    await busy[slot]; // the next slot is free once its hash and write are done
  };

  return {
    async writeObject(chunk) {
      await object?.append(chunk);
    },
    async payload(chunk) {
      let src = chunk;
      for (;;) {
        const dst = (job.slots[slot] as Buffer).subarray(fill);
        const [produced, consumed] = decoder.step(src, dst);
        fill += produced;
        src = src.subarray(consumed);
        if (fill === SLOT_SIZE) await flushSlot();
        if (src.length === 0 && produced < dst.length) return;
      }
    },
    async finish() {
      decoder.finish();
      await flushSlot();
      await Promise.all(busy);
      await object?.end();
      await raw?.end();
      return { size, digest: await job.digest() };
    },
    async abort() {
      await Promise.allSettled(busy); // the object file's writes are waited for by its close()
      await job.abort();
    },
  };
}
