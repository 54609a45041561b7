/**
 * Object file format (version 1). Every CAS object, whatever its codec, is:
 *
 *   offset  size  field
 *   0       4     magic "RVMO"
 *   4       1     format version (u8) = 1
 *   5       1     codec id (u8): 0 none, 1 zstd, 2 lz4
 *   6       2     reserved, zero
 *   8       8     uncompressed size (u64 big-endian)
 *   16      ...   payload
 *
 * Payloads:
 *   none  the raw bytes.
 *   zstd  one or more concatenated zstd frames (the streaming encoder writes one frame).
 *   lz4   a sequence of blocks `[u32 BE raw length][u32 BE compressed length][block]`, each raw
 *         block at most 1 MiB, `block` being lz4-napi's `compressSync` output (its own 4-byte LE
 *         size prefix + LZ4 block). lz4-napi's frame API is not used: `decompressFrameSync` on
 *         concatenated frames silently returns only the first frame.
 *
 * The codec is recorded per object, so a store whose configured codec changed over time reads
 * fine. Readers treat any deviation (bad magic, unknown version or codec, non-zero reserved
 * bytes, a payload that fails to decode, decodes to a different length than the header says,
 * or has trailing bytes) as corruption; the object store then verifies the SHA-256 of the
 * decoded bytes against the object's name on top of that. Durability (temp + fsync + rename)
 * is the object store's job, see object-store.ts.
 *
 * zstd-napi and lz4-napi are native addons, loaded on first use by {@link loadNatives} so that
 * commands which never touch object bytes do not pay for them.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { err, ok, unreachable, type Result } from '../errors/result.js';

export type CodecName = 'none' | 'zstd' | 'lz4';
export type CodecId = 0 | 1 | 2;

export const HEADER_SIZE = 16;
export const FORMAT_VERSION = 1;
export const DEFAULT_ZSTD_LEVEL = 3;
/** Largest raw lz4 block; also the decoder's output chunk size. */
export const BLOCK_SIZE = 1 << 20;

const MAGIC = Buffer.from('RVMO', 'latin1');
const EMPTY: Buffer = Buffer.alloc(0);
const CODEC_IDS: Readonly<Record<CodecName, CodecId>> = { none: 0, zstd: 1, lz4: 2 };
const CODEC_NAMES: readonly CodecName[] = ['none', 'zstd', 'lz4'];
// compressSync output for a full block: LZ4 worst case (n + n/255 + 16) plus its 4-byte prefix.
export const MAX_LZ4_BLOCK = BLOCK_SIZE + Math.ceil(BLOCK_SIZE / 255) + 16 + 4;

/** A parsed object header. */
export interface ObjectHeader {
  readonly version: typeof FORMAT_VERSION;
  readonly codec: CodecName;
  readonly codecId: CodecId;
  /** Uncompressed size in bytes. */
  readonly size: number;
}

export type ZstdBinding = typeof import('zstd-napi/binding.js');
export type Lz4Module = typeof import('lz4-napi');

/** Loaded native modules; pass the result of {@link loadNatives} to the codec functions. */
export interface Natives {
  readonly zstd?: ZstdBinding;
  readonly lz4?: Lz4Module;
}

/** Thrown inside codec streams when the payload is not valid; callers map it to "corrupt". */
export class CodecError extends Error {
  override readonly name = 'CodecError';
}

// The only module-level state: memoised import promises (the addons are process-wide anyway).
let zstdImport: Promise<ZstdBinding> | undefined;
let lz4Import: Promise<Lz4Module> | undefined;

/** Load the native modules the given codecs need (memoised per process). */
export async function loadNatives(codecs: Iterable<CodecName>): Promise<Natives> {
  const want = new Set(codecs);
  if (want.has('zstd')) zstdImport ??= import('zstd-napi/binding.js').then((m) => m.default);
  if (want.has('lz4')) lz4Import ??= import('lz4-napi').then((m) => m.default);
  const [zstd, lz4] = await Promise.all([
    want.has('zstd') ? zstdImport : undefined,
    want.has('lz4') ? lz4Import : undefined,
  ]);
  return { zstd, lz4 };
}

/** Validate a configured level: zstd 1..19; lz4 and none ignore it (returns 0). */
export function normalizeLevel(codec: CodecName, level: number): number {
  if (codec !== 'zstd') return 0;
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new RangeError(`zstd level must be an integer 1..19, got ${level}`);
  }
  return level;
}

/** The 16-byte header for an object of `size` uncompressed bytes. */
export function encodeHeader(codec: CodecName, size: number): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(h, 0);
  h.writeUInt8(FORMAT_VERSION, 4);
  h.writeUInt8(CODEC_IDS[codec], 5);
  h.writeBigUInt64BE(BigInt(size), 8);
  return h;
}

/** Parse and validate the first 16 bytes of an object. */
export function parseHeader(buf: Uint8Array): Result<ObjectHeader, string> {
  if (buf.length < HEADER_SIZE) return err(`object shorter than its ${HEADER_SIZE}-byte header`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, HEADER_SIZE);
  if (!b.subarray(0, 4).equals(MAGIC)) return err('bad magic (not a reprovm object)');
  const version = b.readUInt8(4);
  if (version !== FORMAT_VERSION) return err(`unsupported object format version ${version}`);
  const codec = CODEC_NAMES[b.readUInt8(5)];
  if (codec === undefined) return err(`unknown codec id ${b.readUInt8(5)}`);
  if (b.readUInt16BE(6) !== 0) return err('reserved header bytes are not zero');
  const size = b.readBigUInt64BE(8);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return err(`implausible size ${size}`);
  return ok({ version: FORMAT_VERSION, codec, codecId: CODEC_IDS[codec], size: Number(size) });
}

function needZstd(n: Natives): ZstdBinding {
  if (n.zstd === undefined) throw new Error("Internal error: zstd used before loadNatives(['zstd'])");
  return n.zstd;
}

function needLz4(n: Natives): Lz4Module {
  if (n.lz4 === undefined) throw new Error("Internal error: lz4 used before loadNatives(['lz4'])");
  return n.lz4;
}

function lz4BlockHeader(rawLen: number, compLen: number): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(rawLen, 0);
  h.writeUInt32BE(compLen, 4);
  return h;
}

/** Decode one lz4 block after checking its lengths, so a corrupt length never drives allocation. */
export function decodeLz4Block(lz4: Lz4Module, rawLen: number, block: Buffer): Buffer {
  if (rawLen === 0 || rawLen > BLOCK_SIZE) throw new CodecError(`bad lz4 block length ${rawLen}`);
  if (block.length < 4 || block.readUInt32LE(0) !== rawLen) {
    throw new CodecError('lz4 block size prefix disagrees with its block header');
  }
  let out: Buffer;
  try {
    out = lz4.uncompressSync(block);
  } catch (e: unknown) {
    throw new CodecError(`lz4: ${e instanceof Error ? e.message : String(e)}`);
  }
  // uncompressSync returns an empty buffer for some garbage instead of throwing.
  if (out.length !== rawLen) throw new CodecError(`lz4 block decoded to ${out.length}, expected ${rawLen}`);
  return out;
}

/** Header + payload for `buf`, in one synchronous call (for small objects). */
export function encodeBuffer(natives: Natives, buf: Buffer, codec: CodecName, level: number): Buffer {
  const header = encodeHeader(codec, buf.length);
  switch (codec) {
    case 'none':
      return Buffer.concat([header, buf]);
    case 'zstd': {
      const zstd = needZstd(natives);
      const out = Buffer.allocUnsafe(HEADER_SIZE + zstd.compressBound(buf.length));
      header.copy(out, 0);
      const n = zstd.compress(out.subarray(HEADER_SIZE), buf, normalizeLevel(codec, level));
      return out.subarray(0, HEADER_SIZE + n);
    }
    case 'lz4': {
      const lz4 = needLz4(natives);
      const parts: Buffer[] = [header];
      for (let off = 0; off < buf.length; off += BLOCK_SIZE) {
        const raw = buf.subarray(off, off + BLOCK_SIZE);
        const c = lz4.compressSync(raw);
        parts.push(lz4BlockHeader(raw.length, c.length), c);
      }
      return Buffer.concat(parts);
    }
    default:
      return unreachable(codec);
  }
}

/**
 * Decode a whole object (header + payload). The digest is not checked here. `maxSize`: the
 * most the caller accepts; the header's size is checked against it before the output buffer is
 * allocated (the header of a blob from elsewhere is untrusted: a huge claim must not allocate).
 */
export function decodeBuffer(natives: Natives, objectBytes: Buffer, maxSize?: number): Result<Buffer, string> {
  const parsed = parseHeader(objectBytes);
  if (!parsed.ok) return parsed;
  const { codec, size } = parsed.value;
  if (maxSize !== undefined && size > maxSize) return err(`header says ${size} bytes, more than the ${maxSize} allowed`);
  const payload = objectBytes.subarray(HEADER_SIZE);
  try {
    switch (codec) {
      case 'none':
        return payload.length === size ? ok(payload) : err(`payload is ${payload.length} bytes, header says ${size}`);
      case 'zstd': {
        const out = Buffer.allocUnsafe(size);
        // Handles concatenated frames; throws if the payload would overflow `size`.
        const n = needZstd(natives).decompress(out, payload);
        return n === size ? ok(out) : err(`decoded ${n} bytes, header says ${size}`);
      }
      case 'lz4': {
        const lz4 = needLz4(natives);
        const parts: Buffer[] = [];
        let off = 0;
        let total = 0;
        while (off < payload.length) {
          if (payload.length - off < 8) return err('truncated lz4 block header');
          const rawLen = payload.readUInt32BE(off);
          const compLen = payload.readUInt32BE(off + 4);
          if (compLen > MAX_LZ4_BLOCK || off + 8 + compLen > payload.length) return err('truncated lz4 block');
          const out = decodeLz4Block(lz4, rawLen, payload.subarray(off + 8, off + 8 + compLen));
          total += out.length;
          if (total > size) return err(`decoded more than the ${size} bytes the header says`);
          parts.push(out);
          off += 8 + compLen;
        }
        return total === size ? ok(Buffer.concat(parts, size)) : err(`decoded ${total} bytes, header says ${size}`);
      }
      default:
        return unreachable(codec);
    }
  } catch (e: unknown) {
    if (e instanceof Error && e.message.startsWith('Internal error')) throw e;
    return err(`${codec}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// 1 MiB stream buffers: fewer, larger native calls and writes (see the module's benchmarks).
const STREAM_HWM = 1 << 20;

/** zstd streaming compression to a single frame, via the low-level binding (1 MiB buffers). */
class ZstdEncoder extends Transform {
  readonly #zstd: ZstdBinding;
  readonly #cctx: InstanceType<ZstdBinding['CCtx']>;
  readonly #scratch = Buffer.allocUnsafe(STREAM_HWM);

  constructor(zstd: ZstdBinding, level: number) {
    super({ writableHighWaterMark: STREAM_HWM, readableHighWaterMark: STREAM_HWM });
    this.#zstd = zstd;
    this.#cctx = new zstd.CCtx();
    this.#cctx.setParameter(zstd.CParameter.compressionLevel, level);
  }

  #run(src: Buffer, op: number): void {
    for (;;) {
      const [ret, produced, consumed] = this.#cctx.compressStream2(this.#scratch, src, op);
      // Copy out: the scratch buffer is reused, and compressed output is small.
      if (produced > 0) this.push(Buffer.from(this.#scratch.subarray(0, produced)));
      src = src.subarray(consumed);
      if (src.length === 0 && (op === this.#zstd.EndDirective.continue || ret === 0)) return;
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.#run(chunk, this.#zstd.EndDirective.continue);
      done();
    } catch (e: unknown) {
      done(e instanceof Error ? e : new Error(String(e)));
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#run(Buffer.alloc(0), this.#zstd.EndDirective.end);
      done();
    } catch (e: unknown) {
      done(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

/**
 * An incremental payload decoder that writes into buffers its caller owns: THE streaming
 * decoder of every codec, shared by the Transform below and the remote import.
 *
 * Contract: `step(src, dst)` returns `[produced, consumed]`; call it again with the rest of
 * `src` until it has consumed all of `src` AND produced less than `dst.length` (a full `dst`
 * may mean more output is pending even with no input left). `finish()` throws CodecError when
 * the payload ended inside a zstd frame or an lz4 block (truncated).
 */
export interface StepDecoder {
  step(src: Buffer, dst: Buffer): [produced: number, consumed: number];
  finish(): void;
}

class ZstdStep implements StepDecoder {
  readonly #dctx: InstanceType<ZstdBinding['DCtx']>;
  #inFrame = false;

  constructor(zstd: ZstdBinding) {
    this.#dctx = new zstd.DCtx();
  }

  step(src: Buffer, dst: Buffer): [number, number] {
    let r: [number, number, number];
    try {
      r = this.#dctx.decompressStream(dst, src);
    } catch (e: unknown) {
      throw new CodecError(`zstd: ${e instanceof Error ? e.message : String(e)}`);
    }
    const [ret, produced, consumed] = r;
    // Only a call that made progress says where we are (ret 0: frame complete and flushed). A
    // call that drains nothing, made after a full `dst`, returns the NEXT frame's header-size
    // hint even when the frame just ended: it must not mark the payload as inside a frame.
    if (produced > 0 || consumed > 0) this.#inFrame = ret !== 0;
    return [produced, consumed];
  }

  finish(): void {
    if (this.#inFrame) throw new CodecError('zstd: payload ends inside a frame (truncated)');
  }
}

class Lz4Step implements StepDecoder {
  readonly #lz4: Lz4Module;
  /** Bytes of an incomplete block (header and body) carried over between calls. */
  #rest: Buffer = EMPTY;
  /** Decoded bytes not yet handed out. */
  #pending: Buffer = EMPTY;

  constructor(lz4: Lz4Module) {
    this.#lz4 = lz4;
  }

  step(src: Buffer, dst: Buffer): [number, number] {
    // Takes all of `src` at once; blocks are decoded as `dst` space allows.
    let buf = src.length === 0 ? this.#rest : this.#rest.length === 0 ? src : Buffer.concat([this.#rest, src]);
    let filled = 0;
    while (filled < dst.length) {
      if (this.#pending.length === 0) {
        if (buf.length < 8) break;
        const rawLen = buf.readUInt32BE(0);
        const compLen = buf.readUInt32BE(4);
        if (compLen > MAX_LZ4_BLOCK) throw new CodecError(`bad lz4 compressed length ${compLen}`);
        if (buf.length < 8 + compLen) break;
        this.#pending = decodeLz4Block(this.#lz4, rawLen, buf.subarray(8, 8 + compLen));
        buf = buf.subarray(8 + compLen);
      }
      const n = this.#pending.copy(dst, filled);
      filled += n;
      this.#pending = this.#pending.subarray(n);
    }
    // Copy the tail so the (possibly large) input chunk can be released.
    this.#rest = buf.length === 0 ? EMPTY : buf === this.#rest ? buf : Buffer.from(buf);
    return [filled, src.length];
  }

  finish(): void {
    if (this.#rest.length > 0 || this.#pending.length > 0) throw new CodecError('lz4: payload ends inside a block (truncated)');
  }
}

class NoneStep implements StepDecoder {
  step(src: Buffer, dst: Buffer): [number, number] {
    const n = src.copy(dst, 0, 0, Math.min(src.length, dst.length));
    return [n, n];
  }

  finish(): void {}
}

/** The incremental decoder for `codec` (see {@link StepDecoder}). */
export function createStepDecoder(natives: Natives, codec: CodecName): StepDecoder {
  switch (codec) {
    case 'none':
      return new NoneStep();
    case 'zstd':
      return new ZstdStep(needZstd(natives));
    case 'lz4':
      return new Lz4Step(needLz4(natives));
    default:
      return unreachable(codec);
  }
}

/** A Transform around a {@link StepDecoder}: one reused scratch buffer, output copied out at its size. */
class StepTransform extends Transform {
  readonly #dec: StepDecoder;
  readonly #scratch = Buffer.allocUnsafe(STREAM_HWM);

  constructor(dec: StepDecoder) {
    super({ writableHighWaterMark: STREAM_HWM, readableHighWaterMark: 2 * STREAM_HWM });
    this.#dec = dec;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let src = chunk;
      for (;;) {
        const [produced, consumed] = this.#dec.step(src, this.#scratch);
        if (produced > 0) this.push(Buffer.from(this.#scratch.subarray(0, produced)));
        src = src.subarray(consumed);
        if (src.length === 0 && produced < this.#scratch.length) break;
      }
      done();
    } catch (e: unknown) {
      done(e instanceof CodecError ? e : new CodecError(e instanceof Error ? e.message : String(e)));
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#dec.finish();
      done();
    } catch (e: unknown) {
      done(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

/** Cuts raw input into ≤ 1 MiB blocks and emits length-prefixed lz4 blocks. */
class Lz4Encoder extends Transform {
  readonly #lz4: Lz4Module;
  #pending: Buffer[] = [];
  #pendingLen = 0;

  constructor(lz4: Lz4Module) {
    super({ writableHighWaterMark: STREAM_HWM, readableHighWaterMark: STREAM_HWM });
    this.#lz4 = lz4;
  }

  #emit(raw: Buffer): void {
    const c = this.#lz4.compressSync(raw);
    this.push(Buffer.concat([lz4BlockHeader(raw.length, c.length), c]));
  }

  #emitPending(): void {
    if (this.#pendingLen === 0) return;
    this.#emit(this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending));
    this.#pending = [];
    this.#pendingLen = 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let src = chunk;
    while (src.length > 0) {
      if (this.#pendingLen === 0 && src.length >= BLOCK_SIZE) {
        this.#emit(src.subarray(0, BLOCK_SIZE)); // fast path: whole 1 MiB read chunks
        src = src.subarray(BLOCK_SIZE);
        continue;
      }
      const take = Math.min(BLOCK_SIZE - this.#pendingLen, src.length);
      this.#pending.push(src.subarray(0, take));
      this.#pendingLen += take;
      src = src.subarray(take);
      if (this.#pendingLen === BLOCK_SIZE) this.#emitPending();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.#emitPending();
    done();
  }
}

/** A Transform from raw bytes to the codec's payload (the header is written separately). */
export function createEncoder(natives: Natives, codec: CodecName, level: number): Transform {
  switch (codec) {
    case 'none':
      return new Transform({ highWaterMark: STREAM_HWM, transform: (c: Buffer, _e, cb) => cb(null, c) });
    case 'zstd':
      return new ZstdEncoder(needZstd(natives), normalizeLevel(codec, level));
    case 'lz4':
      return new Lz4Encoder(needLz4(natives));
    default:
      return unreachable(codec);
  }
}

/** A Transform from a payload (bytes after the header) back to raw bytes. Errors are CodecError. */
export function createDecoder(natives: Natives, codec: CodecName): Transform {
  switch (codec) {
    case 'none':
      return new Transform({ highWaterMark: STREAM_HWM, transform: (c: Buffer, _e, cb) => cb(null, c) });
    case 'zstd':
    case 'lz4':
      return new StepTransform(createStepDecoder(natives, codec));
    default:
      return unreachable(codec);
  }
}
