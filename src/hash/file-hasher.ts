/**
 * Streamed SHA-256 of files, with a stat-keyed memo so a no-op run stats files instead of
 * reading them (the trick git's index and ninja's .ninja_log use).
 *
 * A memo entry is trusted only if size, mtime, ctime and inode (all nanosecond bigints) are
 * unchanged. ctime is in the key because it cannot be set from user space: a tool that rewrites
 * a file and restores its mtime (`touch -r`, `cp -p`, fs.utimes) still changes ctime.
 *
 * Racy entries: timestamps have coarse granularity, so a file modified in the same tick as it
 * was hashed could keep its stat and change content. Entries whose mtime or ctime fall within
 * `racyWindowNs` of the moment hashing started are therefore not stored; the file is simply
 * hashed again next time. The same rule covers a file modified while it is being read.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { open } from 'node:fs/promises';
import { isHexDigest, type FileDigest } from './digest.js';

/** What a file hashes to. */
export interface FileFacts {
  readonly digest: FileDigest;
  readonly size: number;
  /** Any execute bit set. */
  readonly executable: boolean;
}

/** A memoised hash keyed by the file's stat; bigints are kept as decimal strings for JSON. */
export interface StatMemoEntry {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly digest: FileDigest;
}

function isEntry(e: unknown): e is StatMemoEntry {
  if (typeof e !== 'object' || e === null) return false;
  const r = e as Record<string, unknown>;
  const dec = (v: unknown): boolean => typeof v === 'string' && /^\d+$/.test(v);
  return Number.isSafeInteger(r['size']) && dec(r['mtimeNs']) && dec(r['ctimeNs']) && dec(r['ino'])
    && typeof r['digest'] === 'string' && isHexDigest(r['digest']);
}

/** memo key (usually the workspace-relative path) → stat + digest. Persisted by the caller. */
export class StatMemo {
  readonly #entries = new Map<string, StatMemoEntry>();
  #dirty = false;

  /** Malformed entries (a hand-edited or old state file) are dropped, not trusted. */
  constructor(entries?: Readonly<Record<string, StatMemoEntry>>) {
    for (const [k, e] of Object.entries(entries ?? {})) if (isEntry(e)) this.#entries.set(k, e);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): StatMemoEntry | undefined {
    return this.#entries.get(key);
  }

  set(key: string, entry: StatMemoEntry): void {
    this.#entries.set(key, entry);
    this.#dirty = true;
  }

  delete(key: string): void {
    if (this.#entries.delete(key)) this.#dirty = true;
  }

  /** True once anything changed since construction: an unchanged memo need not be saved. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Drop every entry whose key is not in `keep` (files no longer part of any task). */
  prune(keep: ReadonlySet<string>): void {
    for (const k of this.#entries.keys()) if (!keep.has(k)) this.delete(k);
  }

  /** Entries sorted by key, so the persisted file is stable. */
  toJSON(): Record<string, StatMemoEntry> {
    return Object.fromEntries([...this.#entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

export interface FileHasherOptions {
  /** Entries this close to the hash start time are not memoised. Default 2 s. */
  readonly racyWindowNs?: bigint;
  /** Wall clock in ns since the epoch (comparable to file mtimes); injectable for tests. */
  readonly now?: () => bigint;
}

/** Up to this size a file is read in one call; larger files are streamed. */
const SMALL = 256 * 1024;
const CHUNK = 1 << 20;

const wallClockNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Hashes files, consulting and updating a {@link StatMemo}. */
export class FileHasher {
  readonly #memo: StatMemo;
  readonly #racyWindowNs: bigint;
  readonly #now: () => bigint;
  readonly #inFlight = new Map<string, Promise<FileFacts>>();
  #filesRead = 0;

  constructor(memo: StatMemo, opts: FileHasherOptions = {}) {
    this.#memo = memo;
    this.#racyWindowNs = opts.racyWindowNs ?? 2_000_000_000n;
    this.#now = opts.now ?? wallClockNs;
  }

  /** How many files this hasher actually read (memo hits do not count); for tests and stats. */
  get filesRead(): number {
    return this.#filesRead;
  }

  /**
   * Digest, size and executable bit of `absPath`, from the memo under `memoKey` if the file's
   * stat is unchanged, else by reading it. Concurrent calls for one key share one read.
   * Throws fs errors (ENOENT, EISDIR…) as-is: the caller knows what a missing input means.
   */
  hashFile(absPath: string, memoKey: string, known?: BigIntStats): Promise<FileFacts> {
    // Synchronous on purpose: on a no-op run this stat is all the work there is, and a
    // thread-pool round trip costs more than the call itself.
    let st: BigIntStats;
    try {
      st = known ?? statSync(absPath, { bigint: true });
    } catch (error) {
      return Promise.reject(error as Error); // a Promise-returning function never throws synchronously
    }
    const hit = this.memoLookup(memoKey, st);
    if (hit) return Promise.resolve(hit);
    const pending = this.#inFlight.get(memoKey);
    if (pending !== undefined) return pending;
    const p = this.#hashMiss(absPath, memoKey, st).finally(() => this.#inFlight.delete(memoKey));
    this.#inFlight.set(memoKey, p);
    return p;
  }

  /** The memoised facts of a file whose stat is `st`, or undefined if the memo cannot vouch for it. */
  memoLookup(memoKey: string, st: BigIntStats): FileFacts | undefined {
    const hit = this.#memo.get(memoKey);
    if (
      hit === undefined ||
      hit.size !== Number(st.size) ||
      hit.mtimeNs !== String(st.mtimeNs) ||
      hit.ctimeNs !== String(st.ctimeNs) ||
      hit.ino !== String(st.ino)
    ) {
      return undefined;
    }
    return { digest: hit.digest, size: hit.size, executable: (st.mode & 0o111n) !== 0n };
  }

  async #hashMiss(absPath: string, memoKey: string, st: BigIntStats): Promise<FileFacts> {
    const executable = (st.mode & 0o111n) !== 0n;
    const key = { size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
    const started = this.#now();
    const { digest, size } = key.size <= SMALL ? this.#hashSmallSync(absPath) : await this.hashFileUncached(absPath);
    const racy = st.mtimeNs + this.#racyWindowNs > started || st.ctimeNs + this.#racyWindowNs > started;
    if (racy || size !== key.size) this.#memo.delete(memoKey);
    else this.#memo.set(memoKey, { ...key, digest });
    return { digest, size, executable };
  }

  /** One synchronous read: for small files a thread-pool round trip costs more than the read. */
  #hashSmallSync(absPath: string): { digest: FileDigest; size: number } {
    this.#filesRead += 1;
    const buf = readFileSync(absPath);
    return { digest: createHash('sha256').update(buf).digest('hex') as FileDigest, size: buf.length };
  }

  /** SHA-256 and byte count of a file, ignoring the memo. */
  async hashFileUncached(absPath: string): Promise<{ digest: FileDigest; size: number }> {
    this.#filesRead += 1;
    const fh = await open(absPath, 'r');
    try {
      const hash = createHash('sha256');
      const { size: statSize } = await fh.stat();
      if (statSize <= SMALL) {
        const buf = await fh.readFile();
        return { digest: hash.update(buf).digest('hex') as FileDigest, size: buf.length };
      }
      // Two reusable buffers: read the next chunk while hashing this one, and avoid
      // allocating (and page-faulting) a fresh MiB per chunk.
      let current = Buffer.allocUnsafe(CHUNK);
      let spare = Buffer.allocUnsafe(CHUNK);
      let size = 0;
      let next = fh.read(current, 0, CHUNK, 0);
      for (;;) {
        const { bytesRead } = await next;
        if (bytesRead === 0) break;
        size += bytesRead;
        next = fh.read(spare, 0, CHUNK, size);
        hash.update(current.subarray(0, bytesRead));
        [current, spare] = [spare, current];
      }
      return { digest: hash.digest('hex') as FileDigest, size };
    } finally {
      await fh.close();
    }
  }
}
