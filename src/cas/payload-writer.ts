/**
 * Encoding a large file into an object payload in one pass, hashing the raw bytes on the way
 * (the mirror image of payload-reader.ts).
 *
 * The source is read into the {@link HashPool} job's ring of 1 MiB slots (one read ahead);
 * each slot is hashed (on the worker thread when it is up) while the main thread compresses
 * it, and compressed output is written with positional writes that proceed in the threadpool.
 * A slot is reused only once its hash and, for `none`, its write are done.
 */
import type { FileHandle } from 'node:fs/promises';
import { unreachable } from '../errors/result.js';
import { HEADER_SIZE, type CodecName, type Natives, type ZstdBinding } from './codec.js';
import type { HashPool } from './hash-pool.js';

/** Turns raw slots into payload writes. `add` is done with `raw` when its promise resolves. */
interface PayloadSink {
  add(raw: Buffer): Promise<unknown>;
  end(): Promise<void>;
}

/** Mark a promise as handled now (it is awaited later), so an early rejection is not "unhandled". */
function settleLater<P extends Promise<unknown>>(p: P): P {
  p.catch(() => undefined);
  return p;
}

/** Positional appends to `out` after the header, many in flight; end() waits for all of them. */
class Appender {
  readonly #out: FileHandle;
  readonly #inFlight = new Set<Promise<void>>();
  #pos = HEADER_SIZE;
  #failure: { readonly error: unknown } | undefined;

  constructor(out: FileHandle) {
    this.#out = out;
  }

  /** Resolves when `buf` is written (and may be reused); never rejects: end() reports failures. */
  append(buf: Buffer): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure.error; // stop early after a failed write
    const p: Promise<void> = this.#out.write(buf, 0, buf.length, this.#pos).then(
      () => void this.#inFlight.delete(p),
      (error: unknown) => {
        this.#inFlight.delete(p);
        this.#failure ??= { error };
      },
    );
    this.#inFlight.add(p);
    this.#pos += buf.length;
    return p;
  }

  async end(): Promise<void> {
    await Promise.all(this.#inFlight);
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}

function zstdSink(zstd: ZstdBinding, level: number, out: Appender): PayloadSink {
  const cctx = new zstd.CCtx();
  cctx.setParameter(zstd.CParameter.compressionLevel, level);
  const run = (src: Buffer, op: number): void => {
    for (;;) {
      // A fresh buffer per call: it stays owned by its pending write.
      const dst = Buffer.allocUnsafe(zstd.compressBound(Math.min(src.length, 1 << 20)) + 1024);
      const [ret, produced, consumed] = cctx.compressStream2(dst, src, op);
      if (produced > 0) void out.append(dst.subarray(0, produced));
      src = src.subarray(consumed);
      if (src.length === 0 && (op === zstd.EndDirective.continue || ret === 0)) return;
    }
  };
  return {
    // zstd copies input into its own window, so the slot is free as soon as this returns.
    add: async (raw) => run(raw, zstd.EndDirective.continue),
    end: async () => {
      run(Buffer.alloc(0), zstd.EndDirective.end);
      return out.end();
    },
  };
}

function payloadSink(natives: Natives, codec: CodecName, level: number, out: Appender): PayloadSink {
  const missing = (c: string): Error => new Error(`Internal error: ${c} used before loadNatives(['${c}'])`);
  switch (codec) {
    case 'none':
      return { add: (raw) => out.append(raw), end: () => out.end() };
    case 'zstd':
      if (natives.zstd === undefined) throw missing('zstd');
      return zstdSink(natives.zstd, level, out);
    case 'lz4': {
      const lz4 = natives.lz4;
      if (lz4 === undefined) throw missing('lz4');
      return {
        // Slots are 1 MiB = the lz4 block size, so each slot is exactly one block.
        add: async (raw) => {
          const c = lz4.compressSync(raw);
          const head = Buffer.allocUnsafe(8);
          head.writeUInt32BE(raw.length, 0);
          head.writeUInt32BE(c.length, 4);
          void out.append(Buffer.concat([head, c]));
        },
        end: () => out.end(),
      };
    }
    default:
      return unreachable(codec);
  }
}

/** Fill `buf` from `fh` at `pos` (short only at end of file). */
async function readFull(fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, pos + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/**
 * Encode all of `src` as a `codec` payload into `out` (after the 16-byte header, which the
 * caller writes once the size is known). Returns the raw size and its SHA-256.
 */
export async function encodeFile(
  natives: Natives,
  codec: CodecName,
  level: number,
  src: FileHandle,
  out: FileHandle,
  pool: HashPool,
  sizeHint: number,
): Promise<{ size: number; digest: string }> {
  const sink = payloadSink(natives, codec, level, new Appender(out));
  const job = await pool.acquire(sizeHint);
  const ring = job.slots.length;
  const busy: Array<Promise<unknown> | undefined> = job.slots.map(() => undefined);
  let size = 0;
  try {
    let reading = settleLater(readFull(src, job.slots[0] as Buffer, 0));
    for (let i = 0; ; i = (i + 1) % ring) {
      const n = await reading;
      if (n === 0) break;
      const slot = (job.slots[i] as Buffer).subarray(0, n);
      const j = (i + 1) % ring;
      await busy[j];
      reading = settleLater(readFull(src, job.slots[j] as Buffer, size + n)); // read ahead
      size += n;
      busy[i] = settleLater(Promise.all([job.update(i, n), sink.add(slot)]));
    }
    await Promise.all(busy);
    await sink.end();
  } catch (e: unknown) {
    await Promise.allSettled(busy);
    await job.abort();
    throw e;
  }
  return { size, digest: await job.digest() };
}
