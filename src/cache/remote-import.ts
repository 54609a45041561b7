/**
 * Importing a blob from the remote into the local CAS, verified while it streams.
 *
 * The remote blob is byte-identical to a local object file (16-byte header + codec payload,
 * see cas/codec.ts). Its bytes are held in memory (up to 1 MiB) or go to a temp file in
 * `<cache-dir>/cas/tmp/` (named like the object store's own temps, `<host>_<pid>_<16 hex>`, so
 * its sweeper removes leftovers of a killed process) and, at the same time, through the codec's
 * decoder into SHA-256. A small blob is written to its temp file only once verified. Only when
 * the header parses, the decoded size equals the header's and the digest equals the name is
 * the temp file renamed into `cas/objects/`; otherwise it is deleted. So nothing unverified
 * ever becomes visible in the local CAS, and a reader there sees a whole object or none.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { CodecError, createDecoder, HEADER_SIZE, loadNatives, parseHeader, type Natives, type ObjectHeader } from '../cas/codec.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { FileDigest } from '../hash/digest.js';

/** A blob that arrived whole but is not what its name says. Transfer errors are thrown instead. */
export interface ImportCorrupt {
  readonly ok: false;
  readonly message: string;
}

export type ImportResult = { readonly ok: true; readonly bytes: number } | ImportCorrupt;

const noop = (): void => undefined;

function tempName(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-') || 'unknown-host';
  return `${host}_${process.pid}_${randomBytes(8).toString('hex')}`;
}

/**
 * Streams `body` (the remote copy of object `digest`) into the local store, verifying it on
 * the way. Returns the number of bytes received, or `ok: false` when the blob is corrupt (it is
 * then not imported). Errors of the body stream (network) and of the local disk are thrown.
 */
export async function importBlob(store: ObjectStore, digest: FileDigest, body: Readable): Promise<ImportResult> {
  const tmp = join(store.root, 'cas', 'tmp', tempName());
  const dest = store.objectPath(digest);
  // Small blobs (most of them) stay in memory and take a few synchronous syscalls, as the
  // object store's own small puts do; large ones spill to the temp file as they arrive.
  const held: Buffer[] = [];
  let heldBytes = 0;
  let fh: FileHandle | undefined;
  let created = false;
  const write = async (chunk: Buffer): Promise<void> => {
    if (fh === undefined && heldBytes + chunk.length <= IN_MEMORY_MAX) {
      held.push(chunk);
      heldBytes += chunk.length;
      return;
    }
    if (fh === undefined) {
      fh = await openNew(tmp);
      created = true;
    }
    // Network chunks are small (16-64 KiB): write them in 1 MiB batches.
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes >= IN_MEMORY_MAX) await flush();
  };
  const flush = async (): Promise<void> => {
    if (fh === undefined || heldBytes === 0) return;
    const batch = Buffer.concat(held.splice(0), heldBytes);
    heldBytes = 0;
    await fh.write(batch);
  };
  let installed = false;
  try {
    const checked = await streamVerified(write, body, digest);
    if (!checked.ok) return checked;
    if (fh === undefined) {
      writeNewSync(tmp, Buffer.concat(held, heldBytes));
      created = true;
    } else {
      await flush();
      await fh.close();
      fh = undefined;
    }
    try {
      renameSync(tmp, dest);
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(dest), { recursive: true });
      renameSync(tmp, dest);
    }
    installed = true;
    return checked;
  } finally {
    await fh?.close().catch(noop);
    if (created && !installed) await unlink(tmp).catch(noop);
  }
}

/** Blobs up to this size (compressed) are verified in memory before anything is written. */
const IN_MEMORY_MAX = 1 << 20;

async function openNew(tmp: string): Promise<FileHandle> {
  try {
    return await open(tmp, 'wx', 0o444);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dirname(tmp), { recursive: true });
    return await open(tmp, 'wx', 0o444);
  }
}

function writeNewSync(tmp: string, bytes: Buffer): void {
  try {
    writeFileSync(tmp, bytes, { flag: 'wx', mode: 0o444 });
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(tmp), { recursive: true });
    writeFileSync(tmp, bytes, { flag: 'wx', mode: 0o444 });
  }
}

/**
 * Reads a remote blob to its end and checks it decodes to `digest`, storing nothing
 * (`cache verify --remote`). Returns the bytes received or why it is corrupt; transfer errors throw.
 */
export async function verifyBlobStream(body: Readable, digest: FileDigest): Promise<ImportResult> {
  return streamVerified(undefined, body, digest);
}

async function streamVerified(write: ((chunk: Buffer) => Promise<void>) | undefined, body: Readable, digest: string): Promise<ImportResult> {
  let received = 0;
  let head = Buffer.alloc(0);
  let header: ObjectHeader | undefined;
  let sink: PayloadSink | undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (write !== undefined) await write(chunk);
      if (sink === undefined) {
        head = Buffer.concat([head, chunk]);
        if (head.length < HEADER_SIZE) continue;
        const parsed = parseHeader(head);
        if (!parsed.ok) {
          body.destroy();
          return { ok: false, message: parsed.error };
        }
        header = parsed.value;
        sink = payloadSink(await loadNatives([header.codec]), header);
        await sink.write(head.subarray(HEADER_SIZE));
      } else {
        await sink.write(chunk);
      }
    }
    if (sink === undefined || header === undefined) return { ok: false, message: `only ${received} bytes, shorter than an object header` };
    await sink.end();
  } catch (e: unknown) {
    if (!(e instanceof CodecError)) throw e; // the transfer failed, not the content
    body.destroy();
    return { ok: false, message: `cannot decode: ${e.message}` };
  }
  if (sink.size !== header.size) return { ok: false, message: `decodes to ${sink.size} bytes, its header says ${header.size}` };
  const got = sink.digest();
  if (got !== digest) return { ok: false, message: `content has digest ${got.slice(0, 12)}…, not ${digest.slice(0, 12)}…` };
  return { ok: true, bytes: received };
}

/** Decodes an object's payload as it arrives and hashes the raw bytes. Decode errors are CodecError. */
interface PayloadSink {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
  /** Raw bytes decoded so far (the hash stops growing past the header's size). */
  readonly size: number;
  digest(): string;
}

/**
 * zstd and none are decoded right here into one reused buffer (no stream, no per-chunk
 * allocation); lz4 goes through the codec's block decoder stream. For zstd a frame is complete
 * exactly when `decompressStream` returns 0; a call that consumes and produces nothing (made to
 * drain a full output buffer) must not reset that, because after a frame ends the context
 * already hints at the next frame's header size.
 */
function payloadSink(natives: Natives, header: ObjectHeader): PayloadSink {
  const hash = createHash('sha256');
  let size = 0;
  const take = (raw: Buffer): void => {
    size += raw.length;
    if (size > header.size) throw new CodecError(`decodes to more than the ${header.size} bytes in its header`);
    hash.update(raw);
  };
  const base = { digest: (): string => hash.digest('hex') };
  if (header.codec === 'none') {
    return { ...base, write: async (c) => take(c), end: async () => undefined, get size() { return size; } };
  }
  if (header.codec === 'zstd' && natives.zstd !== undefined) {
    const dctx = new natives.zstd.DCtx();
    const dst = Buffer.allocUnsafe(OUT_CHUNK);
    let inFrame = false;
    const write = async (chunk: Buffer): Promise<void> => {
      let src = chunk;
      for (;;) {
        let r: [number, number, number];
        try {
          r = dctx.decompressStream(dst, src);
        } catch (e: unknown) {
          throw new CodecError(`zstd: ${e instanceof Error ? e.message : String(e)}`);
        }
        const [ret, produced, consumed] = r;
        if (produced > 0) take(dst.subarray(0, produced));
        if (ret === 0) inFrame = false;
        else if (produced > 0 || consumed > 0) inFrame = true;
        src = src.subarray(consumed);
        if (src.length === 0 && produced < dst.length) return;
      }
    };
    const end = async (): Promise<void> => {
      if (inFrame) throw new CodecError('zstd: payload ends inside a frame (truncated)');
    };
    return { ...base, write, end, get size() { return size; } };
  }
  const decoder = createDecoder(natives, header.codec);
  let failed: unknown;
  decoder.on('data', (d: Buffer) => {
    try {
      take(d);
    } catch (e: unknown) {
      failed ??= e;
    }
  });
  decoder.on('error', (e: unknown) => {
    failed ??= e;
  });
  const check = (): void => {
    if (failed !== undefined) throw failed instanceof CodecError ? failed : new CodecError(String(failed));
  };
  return {
    ...base,
    get size() { return size; },
    write: async (chunk) => {
      check();
      if (!decoder.write(chunk)) await Promise.race([once(decoder, 'drain'), once(decoder, 'error')]).catch(() => undefined);
      check();
    },
    end: async () => {
      check();
      decoder.end();
      await once(decoder, 'end').catch(() => undefined);
      check();
    },
  };
}

const OUT_CHUNK = 1 << 20;
