/**
 * Importing a blob from the remote into the local CAS, verified while it streams.
 *
 * The remote blob is byte-identical to a local object file (16-byte header + codec payload,
 * see cas/codec.ts). A blob up to 1 MiB is held in memory, decoded and hashed in one call, and
 * written to its temp file only once verified. A larger one goes through the one-pass import
 * (stream-import.ts): its bytes go to a temp file as they arrive and, at the same time, through
 * the codec's step decoder into SHA-256 (and, when a restore follows, into a staged raw file).
 * Temp files live in `<cache-dir>/cas/tmp/` under the object store's temp names, so its
 * sweeper removes leftovers of a killed process. Only when the header parses, the decoded size
 * equals the header's and the digest equals the name is the temp file renamed into
 * `cas/objects/` (and the raw copy offered to the restore, see cas/fresh-copies.ts); otherwise
 * both are deleted. So nothing unverified ever becomes visible in the local CAS or the
 * workspace, and a reader there sees a whole object or none.
 * The header's size is untrusted: before any decoding it must equal the size the action record
 * gives for the output (or, for logs, stay below {@link MAX_UNDECLARED_SIZE}), and a small blob
 * that claims more than 64 MiB is verified in steps, so a forged header cannot make the
 * process allocate or write an absurd amount.
 */
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { CodecError, decodeBuffer, HEADER_SIZE, loadNatives, parseHeader, type ObjectHeader } from '../cas/codec.js';
import type { HashPool } from '../cas/hash-pool.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { FileDigest } from '../hash/digest.js';
import { createAppendFile, type FileAppender } from '../util/direct-appender.js';
import { creatingParent, creatingParentSync } from '../util/fs.js';
import { createRawFile, type RawFile } from '../cas/raw-file.js';
import { startObjectStream, type StreamTargets } from './stream-import.js';

/** A blob that arrived whole but is not what its name says. Transfer errors are thrown instead. */
export interface ImportCorrupt {
  readonly ok: false;
  readonly message: string;
}

export type ImportResult = { readonly ok: true; readonly bytes: number } | ImportCorrupt;

export interface ImportOptions {
  /** A restore of this blob follows: keep a verified raw copy for it (ObjectStore.fresh). */
  readonly forRestore?: boolean;
  /**
   * The raw size the action record gives for this blob, when it gives one. The blob's header
   * must claim exactly this size; it is checked before anything is decoded.
   */
  readonly expectedSize?: number;
}

/**
 * The largest raw size accepted for a blob whose record gives no size (stdout/stderr logs):
 * the header of a remote blob is untrusted, and a huge claim must be refused before decoding.
 */
export const MAX_UNDECLARED_SIZE = 1 << 30;

/** Blobs that decode to more than this are verified in steps even when they arrived small. */
const IN_MEMORY_DECODE_MAX = 64 << 20;

/** Why the size a blob's header claims is refused, or undefined when it is acceptable. */
function refuseClaimedSize(header: ObjectHeader, expectedSize: number | undefined): ImportCorrupt | undefined {
  if (expectedSize !== undefined) {
    return header.size === expectedSize ? undefined : { ok: false, message: `its header says ${header.size} bytes, the action record says ${expectedSize}` };
  }
  return header.size > MAX_UNDECLARED_SIZE ? { ok: false, message: `its header claims an implausible ${header.size} bytes` } : undefined;
}

/** True when a fully received small blob is decoded in memory (else it is verified in steps). */
function decodesInMemory(whole: Buffer): boolean {
  const header = whole.length >= HEADER_SIZE ? parseHeader(whole) : undefined;
  return header === undefined || !header.ok || header.value.size <= IN_MEMORY_DECODE_MAX;
}

const noop = (): void => undefined;

/**
 * Streams `body` (the remote copy of object `digest`) into the local store, verifying it on
 * the way. Returns the number of bytes received, or `ok: false` when the blob is corrupt (it is
 * then not imported). Errors of the body stream (network) and of the local disk are thrown.
 */
export async function importBlob(store: ObjectStore, digest: FileDigest, body: Readable, opts: ImportOptions = {}): Promise<ImportResult> {
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const held = await holdUpTo(it, IN_MEMORY_MAX);
  const whole = held.done ? Buffer.concat(held.chunks, held.bytes) : undefined;
  if (whole !== undefined && decodesInMemory(whole)) {
    const checked = await checkWhole(whole, digest, opts.expectedSize);
    if (!checked.ok) return checked;
    const tmp = store.tempPath();
    writeNewSync(tmp, whole);
    try {
      installSync(tmp, store.objectPath(digest));
    } catch (e: unknown) {
      await unlink(tmp).catch(noop);
      throw e;
    }
    if (opts.forRestore === true) store.fresh.add(digest, { kind: 'buffer', bytes: checked.raw });
    return { ok: true, bytes: whole.length };
  }
  const tmp = store.tempPath();
  const rawTmp = opts.forRestore === true && store.fresh.stagingFiles ? store.tempPath() : undefined;
  let object: FileAppender | undefined;
  let raw: RawFile | undefined;
  let installed = false;
  try {
    object = await createAppendFile(tmp, 0o444, { direct: store.directIo !== 'off' });
    if (rawTmp !== undefined) raw = await createRawFile(rawTmp, 0o600, store.directIo === 'outputs');
    const r = await streamVerified(held.chunks, it, body, digest, { object, ...(raw === undefined ? {} : { raw }) }, store.hashPool, opts.expectedSize);
    if (!r.ok) return r;
    await object.close();
    object = undefined;
    await raw?.close();
    raw = undefined;
    await install(tmp, store.objectPath(digest));
    installed = true;
    if (rawTmp !== undefined) store.fresh.add(digest, { kind: 'file', path: rawTmp, size: r.size });
    return { ok: true, bytes: r.bytes };
  } finally {
    await object?.close().catch(noop);
    await raw?.close().catch(noop);
    if (!installed) await Promise.all([unlink(tmp).catch(noop), rawTmp === undefined ? undefined : unlink(rawTmp).catch(noop)]);
  }
}

/** Blobs up to this size (compressed) are verified in memory before anything is written. */
const IN_MEMORY_MAX = 1 << 20;

function writeNewSync(tmp: string, bytes: Buffer): void {
  creatingParentSync(tmp, () => writeFileSync(tmp, bytes, { flag: 'wx', mode: 0o444 }));
}

function installSync(tmp: string, dest: string): void {
  creatingParentSync(dest, () => renameSync(tmp, dest));
}

function install(tmp: string, dest: string): Promise<void> {
  return creatingParent(dest, () => rename(tmp, dest));
}

/** Reads chunks until more than `max` bytes arrived (done: false) or the body ended (done: true). */
async function holdUpTo(it: AsyncIterator<Buffer>, max: number): Promise<{ chunks: Buffer[]; bytes: number; done: boolean }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for (;;) {
    const r = await it.next();
    if (r.done === true) return { chunks, bytes, done: true };
    chunks.push(r.value);
    bytes += r.value.length;
    if (bytes > max) return { chunks, bytes, done: false };
  }
}

/** Checks a whole object held in memory: its raw bytes, or why it is corrupt. */
async function checkWhole(whole: Buffer, digest: string, expectedSize: number | undefined): Promise<{ ok: true; raw: Buffer } | ImportCorrupt> {
  if (whole.length < HEADER_SIZE) return { ok: false, message: `only ${whole.length} bytes, shorter than an object header` };
  const header = parseHeader(whole);
  if (!header.ok) return { ok: false, message: header.error };
  const refused = refuseClaimedSize(header.value, expectedSize);
  if (refused !== undefined) return refused;
  const decoded = decodeBuffer(await loadNatives([header.value.codec]), whole, IN_MEMORY_DECODE_MAX);
  if (!decoded.ok) return { ok: false, message: `cannot decode: ${decoded.error}` };
  const got = createHash('sha256').update(decoded.value).digest('hex');
  if (got !== digest) return { ok: false, message: `content has digest ${got.slice(0, 12)}…, not ${digest.slice(0, 12)}…` };
  return { ok: true, raw: decoded.value };
}

/**
 * Reads a remote blob to its end and checks it decodes to `digest`, storing nothing
 * (`cache verify --remote`). Returns the bytes received or why it is corrupt; transfer errors throw.
 */
export async function verifyBlobStream(body: Readable, digest: FileDigest, expectedSize?: number): Promise<ImportResult> {
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const held = await holdUpTo(it, IN_MEMORY_MAX);
  const whole = held.done ? Buffer.concat(held.chunks, held.bytes) : undefined;
  if (whole !== undefined && decodesInMemory(whole)) {
    const checked = await checkWhole(whole, digest, expectedSize);
    return checked.ok ? { ok: true, bytes: whole.length } : checked;
  }
  const r = await streamVerified(held.chunks, it, body, digest, {}, undefined, expectedSize);
  return r.ok ? { ok: true, bytes: r.bytes } : r;
}

/**
 * The rest of a large blob: `first` (already read, more than a header) then `it`, through
 * the one-pass import into `targets`. Codec errors and a wrong size or digest are corruption.
 */
async function streamVerified(
  first: readonly Buffer[],
  it: AsyncIterator<Buffer>,
  body: Readable,
  digest: string,
  targets: StreamTargets,
  pool: HashPool | undefined,
  expectedSize: number | undefined,
): Promise<{ ok: true; bytes: number; size: number } | ImportCorrupt> {
  const head = Buffer.concat(first);
  const parsed = parseHeader(head);
  if (!parsed.ok) {
    body.destroy();
    return { ok: false, message: parsed.error };
  }
  const header: ObjectHeader = parsed.value;
  const refused = refuseClaimedSize(header, expectedSize);
  if (refused !== undefined) {
    body.destroy();
    return refused;
  }
  const stream = await startObjectStream(await loadNatives([header.codec]), header, targets, pool);
  let received = head.length;
  let done: { size: number; digest: string };
  try {
    await stream.writeObject(head);
    await stream.payload(head.subarray(HEADER_SIZE));
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      received += r.value.length;
      await stream.writeObject(r.value);
      await stream.payload(r.value);
    }
    done = await stream.finish();
  } catch (e: unknown) {
    body.destroy(); // stop the download whatever went wrong (a no-op when the body failed)
    await stream.abort();
    if (!(e instanceof CodecError)) throw e; // the transfer or the disk failed, not the content
    return { ok: false, message: `cannot decode: ${e.message}` };
  }
  if (done.size !== header.size) return { ok: false, message: `decodes to ${done.size} bytes, its header says ${header.size}` };
  if (done.digest !== digest) return { ok: false, message: `content has digest ${done.digest.slice(0, 12)}…, not ${digest.slice(0, 12)}…` };
  return { ok: true, bytes: received, size: done.size };
}
