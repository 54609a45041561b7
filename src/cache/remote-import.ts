/**
 * Importing a blob from the remote into the local CAS, verified while it streams.
 *
 * The remote blob is byte-identical to a local object file (16-byte header + codec payload,
 * see cas/codec.ts). Its bytes go to a temp file in `<cache-dir>/cas/tmp/` (named like the
 * object store's own temps, `<host>_<pid>_<16 hex>`, so its sweeper removes leftovers of a
 * killed process) and, at the same time, through the codec's decoder into SHA-256. Only when
 * the header parses, the decoded size equals the header's and the digest equals the name is
 * the temp file renamed into `cas/objects/`; otherwise it is deleted. So nothing unverified
 * ever becomes visible in the local CAS, and a reader there sees a whole object or none.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { CodecError, createDecoder, HEADER_SIZE, loadNatives, parseHeader, type Natives, type ObjectHeader, type ZstdBinding } from '../cas/codec.js';
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
  const tmpDir = join(store.root, 'cas', 'tmp');
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, tempName());
  const fh = await open(tmp, 'wx', 0o444);
  let installed = false;
  try {
    const checked = await streamVerified(fh, body, digest);
    await fh.close();
    if (!checked.ok) return checked;
    const dest = store.objectPath(digest);
    await rename(tmp, dest).catch(async (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(dirname(dest), { recursive: true });
      await rename(tmp, dest);
    });
    installed = true;
    return checked;
  } finally {
    await fh.close().catch(noop);
    if (!installed) await unlink(tmp).catch(noop);
  }
}

/**
 * Reads a remote blob to its end and checks it decodes to `digest`, storing nothing
 * (`cache verify --remote`). Returns the bytes received or why it is corrupt; transfer errors throw.
 */
export async function verifyBlobStream(body: Readable, digest: FileDigest): Promise<ImportResult> {
  return streamVerified(undefined, body, digest);
}

async function streamVerified(fh: FileHandle | undefined, body: Readable, digest: string): Promise<ImportResult> {
  const hash = createHash('sha256');
  let received = 0;
  let head = Buffer.alloc(0);
  let header: ObjectHeader | undefined;
  let decoder: Transform | undefined;
  let decoded = 0;
  let decodeError: unknown;
  const feed = async (chunk: Buffer): Promise<void> => {
    if (decoder !== undefined && !decoder.write(chunk)) await once(decoder, 'drain');
  };
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (fh !== undefined) await fh.write(chunk);
      if (decodeError !== undefined) break;
      if (header === undefined) {
        head = Buffer.concat([head, chunk]);
        if (head.length < HEADER_SIZE) continue;
        const parsed = parseHeader(head);
        if (!parsed.ok) {
          body.destroy();
          return { ok: false, message: parsed.error };
        }
        header = parsed.value;
        const hdr = header;
        decoder = payloadDecoder(await loadNatives([hdr.codec]), hdr);
        decoder.on('data', (d: Buffer) => {
          decoded += d.length;
          if (decoded <= hdr.size) hash.update(d);
        });
        decoder.on('error', (e: unknown) => {
          decodeError = e;
        });
        await feed(head.subarray(HEADER_SIZE));
      } else {
        await feed(chunk);
      }
    }
  } catch (e: unknown) {
    decoder?.destroy();
    if (decodeError === undefined) throw e; // the transfer failed, not the content
  }
  if (header === undefined) return { ok: false, message: `only ${received} bytes, shorter than an object header` };
  if (decoder !== undefined && decodeError === undefined) {
    decoder.end();
    await once(decoder, 'end').catch((e: unknown) => {
      decodeError ??= e;
    });
  }
  if (decodeError !== undefined) {
    body.destroy();
    return { ok: false, message: `cannot decode: ${decodeError instanceof Error ? decodeError.message : String(decodeError)}` };
  }
  if (decoded !== header.size) return { ok: false, message: `decodes to ${decoded} bytes, its header says ${header.size}` };
  const got = hash.digest('hex');
  if (got !== digest) return { ok: false, message: `content has digest ${got.slice(0, 12)}…, not ${digest.slice(0, 12)}…` };
  return { ok: true, bytes: received };
}

/**
 * The payload decoder for an object. zstd gets its own streaming decoder here: a frame is
 * complete exactly when `decompressStream` returns 0, and a call that consumes and produces
 * nothing (made to drain a full output buffer) must not reset that, because after a frame
 * ends the context already hints at the next frame's header size.
 */
function payloadDecoder(natives: Natives, header: ObjectHeader): Transform {
  if (header.codec !== 'zstd' || natives.zstd === undefined) return createDecoder(natives, header.codec);
  return new ZstdVerifyDecoder(natives.zstd);
}

const OUT_CHUNK = 1 << 20;

class ZstdVerifyDecoder extends Transform {
  readonly #dctx: InstanceType<ZstdBinding['DCtx']>;
  #inFrame = false;

  constructor(zstd: ZstdBinding) {
    super();
    this.#dctx = new zstd.DCtx();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let src = chunk;
      for (;;) {
        const dst = Buffer.allocUnsafe(OUT_CHUNK);
        const [ret, produced, consumed] = this.#dctx.decompressStream(dst, src);
        if (produced > 0) this.push(dst.subarray(0, produced));
        if (ret === 0) this.#inFrame = false;
        else if (produced > 0 || consumed > 0) this.#inFrame = true;
        src = src.subarray(consumed);
        if (src.length === 0 && produced < dst.length) break;
      }
      done();
    } catch (e: unknown) {
      done(new CodecError(`zstd: ${e instanceof Error ? e.message : String(e)}`));
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.#inFrame ? new CodecError('zstd: payload ends inside a frame (truncated)') : null);
  }
}
