/**
 * SHA-256 off the main thread, for verifying large restores.
 *
 * Why: restoring a zstd object costs about as much CPU in decompression as in SHA-256, and
 * both run on the main thread if done naively, capping a restore at ~55% of `zstd -d`.
 * Hashing on a worker thread overlaps the two. Data is not copied: the main thread decodes
 * into a ring of 1 MiB slots carved from a SharedArrayBuffer, posts "hash slot i, n bytes",
 * and reuses a slot only after the worker has acknowledged it (and its write completed). The
 * slots are page-aligned (util/aligned-memory.ts), so a file written past the page cache takes
 * a whole slot in place instead of copying it (util/direct-appender.ts).
 *
 * The worker starts lazily on the first large job (so commands that restore nothing big never
 * pay its ~30 ms start-up) and is used at once: messages queue until it runs, while the main
 * thread decodes ahead into the ring. It is unref'd whenever no reply is pending, so it never
 * keeps a process alive. If it fails or dies, pending jobs fail (as I/O errors) and every
 * later job hashes inline. At most MAX_JOBS jobs run at once (later
 * ones wait), bounding ring memory at MAX_JOBS × 8 MiB (64 MiB).
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { alignedBuffers } from '../util/aligned-memory.js';

export const SLOT_SIZE = 1 << 20;
const SLOTS = 8;
/**
 * As many as the downloads a remote restore runs at once by default (8): with 4, a restore of
 * many large blobs went in waves of 4 while the plain SDK loop it is measured against streams 8.
 */
export const MAX_JOBS = 8;
/** Below this, starting a worker costs more than it saves. */
const WORKER_MIN_BYTES = 8 << 20;

// Every 'u'(pdate), 'e'(nd) and 'x' (abort) message gets exactly one reply, in order, so the
// main side matches replies to requests with a FIFO queue.
// Dynamic import works whether the eval'd source is run as CommonJS or as an ES module.
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([{ parentPort }, { createHash }]) => {
  const jobs = new Map();
  parentPort.on('message', (m) => {
    if (m.t === 's') { jobs.set(m.j, { h: createHash('sha256'), b: m.b }); return; }
    const job = jobs.get(m.j);
    if (m.t === 'u') { job.h.update(new Uint8Array(job.b, m.o, m.n)); parentPort.postMessage(0); return; }
    jobs.delete(m.j);
    parentPort.postMessage(m.t === 'e' ? job.h.digest('hex') : '');
  });
});`;

/** One hashing job over a ring of reusable slots. */
export interface HashJob {
  /** Decode into these; hand slot `i` to update() once filled. */
  readonly slots: readonly Buffer[];
  /** Hash `slots[i][0, n)` (calls are hashed in order); resolves when hashing no longer reads the slot. */
  update(i: number, n: number): Promise<void>;
  /** The hex digest of everything updated; ends the job. */
  digest(): Promise<string>;
  /** End the job without a digest (after an error). Call once nothing else uses the slots. */
  abort(): Promise<void>;
}

type WorkerState = 'idle' | 'starting' | 'ready' | 'broken';
interface Reply {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

const RESOLVED = Promise.resolve();

/** Hands out hashing jobs; owns the worker thread and the slot rings. */
export class HashPool {
  #worker: Worker | undefined;
  #state: WorkerState = 'idle';
  #nextJob = 0;
  #active = 0;
  readonly #replies: Reply[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #sharedRings: ArrayBufferLike[] = [];
  readonly #plainRings: Buffer[][] = [];

  /** True once jobs are hashed on the worker thread. */
  get onWorker(): boolean {
    return this.#state === 'starting' || this.#state === 'ready';
  }

  /** Start the worker now rather than on the first large job (e.g. before a big restore). */
  warmUp(): void {
    if (this.#state === 'idle') this.#start();
  }

  /** A job for about `sizeHint` bytes; waits while MAX_JOBS jobs are running. */
  async acquire(sizeHint: number): Promise<HashJob> {
    while (this.#active >= MAX_JOBS) await new Promise<void>((r) => this.#waiters.push(r));
    this.#active += 1;
    if (this.#state === 'idle' && sizeHint >= WORKER_MIN_BYTES) this.#start();
    return this.onWorker ? this.#workerJob() : this.#inlineJob();
  }

  /** Stop the worker (optional: it is unref'd while idle). */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.#state = 'broken';
    if (w !== undefined) await w.terminate();
  }

  #release(): void {
    this.#active -= 1;
    this.#waiters.shift()?.();
  }

  #start(): void {
    this.#state = 'starting';
    // execArgv []: do not inherit loaders such as `--import tsx` (slow start) or `--input-type`.
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.#worker = w;
    w.unref();
    w.on('online', () => {
      if (this.#state === 'starting') this.#state = 'ready';
    });
    w.on('message', (v: unknown) => {
      this.#replies.shift()?.resolve(v);
      if (this.#replies.length === 0) w.unref();
    });
    const fail = (e: Error): void => {
      this.#state = 'broken';
      for (const r of this.#replies.splice(0)) r.reject(e);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash worker exited (code ${code})`)));
  }

  #post(msg: object, reply: boolean): Promise<unknown> {
    const w = this.#worker;
    if (w === undefined || this.#state === 'broken') return Promise.reject(new Error('hash worker is not running'));
    w.postMessage(msg);
    if (!reply) return RESOLVED;
    if (this.#replies.length === 0) w.ref(); // keep the process alive until the answer comes
    return new Promise((resolve, reject) => this.#replies.push({ resolve, reject }));
  }

  #workerJob(): HashJob {
    const sab = this.#sharedRings.pop() ?? alignedBuffers(SLOTS, SLOT_SIZE, true).store;
    const slots = Array.from({ length: SLOTS }, (_, i) => Buffer.from(sab, i * SLOT_SIZE, SLOT_SIZE));
    const j = this.#nextJob++;
    let open = true;
    const end = (): void => {
      if (!open) return;
      open = false;
      // Only reuse the ring if the worker provably finished reading it.
      if (this.#state !== 'broken') this.#sharedRings.push(sab);
      this.#release();
    };
    // A failure here surfaces on the first update().
    this.#post({ t: 's', j, b: sab }, false).catch(() => undefined);
    return {
      slots,
      update: (i, n) => this.#post({ t: 'u', j, o: i * SLOT_SIZE, n }, true).then(() => undefined),
      digest: async () => {
        try {
          return String(await this.#post({ t: 'e', j }, true));
        } finally {
          end();
        }
      },
      abort: () => this.#post({ t: 'x', j }, true).then(end, end),
    };
  }

  #inlineJob(): HashJob {
    const slots = this.#plainRings.pop() ?? alignedBuffers(SLOTS, SLOT_SIZE, false).buffers;
    const hash = createHash('sha256');
    let open = true;
    const end = (): void => {
      if (!open) return;
      open = false;
      this.#plainRings.push(slots);
      this.#release();
    };
    return {
      slots,
      update: (i, n) => {
        hash.update((slots[i] as Buffer).subarray(0, n));
        return RESOLVED;
      },
      digest: () => {
        end();
        return Promise.resolve(hash.digest('hex'));
      },
      abort: () => {
        end();
        return RESOLVED;
      },
    };
  }
}
