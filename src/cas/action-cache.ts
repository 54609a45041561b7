/**
 * Design note: action records (what a task produced for a given task key).
 *
 * Layout: `<root>/cache/<task key>.json`, flat so a person can `ls` and `cat` them; quarantined
 * records go to `<root>/cache/quarantine/<key>.json.<ms>-<hex>`. A record is pretty JSON:
 * the {@link ActionRecord} fields plus `checksum`, the SHA-256 of the canonical JSON (keys
 * sorted recursively, no whitespace) of the record without `checksum`. `version` is the
 * record format version; a reader that does not know it treats the record as corrupt.
 *
 * Durability: written atomically (temp + rename; with `fsync: true` the temp is fsynced first,
 * otherwise the caller flushes the whole batch once), after every object the record names is
 * already in the object store, so a record never points at nothing.
 *
 * Small blobs travel inside the record (format version 2): `inline` maps the digest of every
 * output file or captured log of at most `inline_max_bytes` (default 4 KiB) to its content (base64), and
 * such a blob has no object in the store, locally or remotely. The idea is the Remote Execution
 * API's inlined outputs; the reason here is the cost of a new file: on the file systems we run
 * on, creating an inode costs far more than writing a few KiB into a file that is created
 * anyway, and a cold build of tiny tasks would otherwise create two cache files per task.
 * Version 1 records (no `inline`) are still read.
 *
 * Readers check the JSON, the checksum and the full shape (hex digests, relative paths without
 * `..`, key equal to the file name, every inline blob named by an output or log, no larger than
 * the limit, and hashing to its digest). Anything off is reported as `corrupt` and the file is
 * moved to quarantine; callers treat that as a miss plus one warning. Read-only callers
 * (`explain`, the dry run) get the same verdict without the move.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, utimesSync } from 'node:fs';
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isHexDigest, type FileDigest, type ResultHash, type TaskKey } from '../hash/digest.js';
import { writeFileAtomic, writeFileAtomicSync } from '../util/atomic-write.js';
import { unlinkIfPresent } from '../util/fs.js';

/** One declared output as it was produced. */
export interface OutputEntry {
  /** Workspace-relative, posix separators. */
  readonly path: string;
  readonly kind: 'file' | 'symlink' | 'dir';
  readonly digest?: FileDigest;
  readonly size?: number;
  /** 0o755 or 0o644 for files. */
  readonly mode?: number;
  /** Symlink target, verbatim. */
  readonly target?: string;
}

/** Readers accept inline blobs up to this size; writers inline up to `[cache] inline_max_bytes` (default 4 KiB). */
export const INLINE_MAX = 65536;
/** The default of `[cache] inline_max_bytes`. */
export const DEFAULT_INLINE_BYTES = 4096;

/** What a task produced for a key; `keyRecord` is the task's key record, opaque here. */
export interface ActionRecord {
  readonly version: 1 | 2;
  readonly task: string;
  readonly key: TaskKey;
  readonly keyRecord: unknown;
  readonly resultHash: ResultHash;
  readonly outputs: readonly OutputEntry[];
  readonly stdout?: FileDigest;
  readonly stderr?: FileDigest;
  /** Version 2: content (base64) of the small blobs above, by digest; they have no object in the store. */
  readonly inline?: Readonly<Record<string, string>>;
  readonly exitCode: number;
  readonly durationMs: number;
  readonly createdAt: string;
}

export type ActionLookup =
  | { readonly kind: 'hit'; readonly record: ActionRecord }
  | { readonly kind: 'miss' }
  | { readonly kind: 'corrupt'; readonly message: string };

const RECORD_NAME = /^([0-9a-f]{64})\.json$/;
const RECORD_KEYS = new Set([
  'version', 'task', 'key', 'keyRecord', 'resultHash', 'outputs', 'stdout', 'stderr', 'inline', 'exitCode', 'durationMs', 'createdAt',
]);

/** Adds `bytes` to a record's inline table (see the design note) and returns its digest. */
export function addInline(table: Record<string, string>, bytes: Buffer): FileDigest {
  const digest = createHash('sha256').update(bytes).digest('hex') as FileDigest;
  table[digest] = bytes.toString('base64');
  return digest;
}

/** The content of blob `digest` if the record carries it inline (its digest was checked when the record was read). */
export function inlineBlob(record: Pick<ActionRecord, 'inline'>, digest: string): Buffer | undefined {
  const text = record.inline?.[digest];
  return text === undefined ? undefined : Buffer.from(text, 'base64');
}

/**
 * The digests of the blobs a record needs from the object store (locally) or `cas/` (remotely):
 * output file contents and captured logs, each once, except those it carries inline.
 */
export function storedBlobs(record: ActionRecord): FileDigest[] {
  const digests = new Set<FileDigest>();
  for (const o of record.outputs) if (o.kind === 'file' && o.digest !== undefined) digests.add(o.digest);
  if (record.stdout !== undefined) digests.add(record.stdout);
  if (record.stderr !== undefined) digests.add(record.stderr);
  return [...digests].filter((d) => record.inline?.[d] === undefined);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * JSON with object keys sorted at every level. JSON.stringify's own rules (toJSON, dropping
 * undefined, NaN → null) apply first, so encoding a record and its parsed copy agree.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

function checksumOf(record: unknown): string {
  return createHash('sha256').update(canonicalJson(record)).digest('hex');
}

/** A workspace-relative posix path that cannot escape the workspace. */
function isSafeRelPath(p: unknown): p is string {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.includes('\\') || p.includes('\0')) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isOptDigest = (v: unknown): boolean => v === undefined || (typeof v === 'string' && isHexDigest(v));

function outputProblem(o: unknown, i: number): string | undefined {
  if (!isPlainObject(o)) return `outputs[${i}] is not an object`;
  if (!isSafeRelPath(o['path'])) return `outputs[${i}].path is not a safe relative path`;
  switch (o['kind']) {
    case 'file':
      if (typeof o['digest'] !== 'string' || !isHexDigest(o['digest'])) return `outputs[${i}].digest is not a digest`;
      if (!isNonNegInt(o['size'])) return `outputs[${i}].size is not a byte count`;
      if (o['mode'] !== undefined && !(isNonNegInt(o['mode']) && o['mode'] <= 0o7777)) return `outputs[${i}].mode is invalid`;
      return undefined;
    case 'symlink':
      return typeof o['target'] === 'string' && o['target'] !== '' ? undefined : `outputs[${i}].target is missing`;
    case 'dir':
      return undefined;
    default:
      return `outputs[${i}].kind is invalid`;
  }
}

/** Why `r` is not a well-formed record for `key`, or undefined if it is. */
export function recordProblem(r: unknown, key?: string): string | undefined {
  if (!isPlainObject(r)) return 'not a JSON object';
  const extra = Object.keys(r).find((k) => !RECORD_KEYS.has(k));
  if (extra !== undefined) return `unknown field "${extra}"`;
  if (r['version'] !== 1 && r['version'] !== 2) return `unsupported record version ${JSON.stringify(r['version'])}`;
  if (typeof r['task'] !== 'string' || r['task'] === '') return 'task is missing';
  if (typeof r['key'] !== 'string' || !isHexDigest(r['key'])) return 'key is not a digest';
  if (key !== undefined && r['key'] !== key) return `key ${r['key']} does not match the file name`;
  if (r['keyRecord'] === undefined) return 'keyRecord is missing';
  if (typeof r['resultHash'] !== 'string' || !isHexDigest(r['resultHash'])) return 'resultHash is not a digest';
  if (!isOptDigest(r['stdout']) || !isOptDigest(r['stderr'])) return 'stdout/stderr is not a digest';
  if (!Number.isSafeInteger(r['exitCode'])) return 'exitCode is not an integer';
  if (typeof r['durationMs'] !== 'number' || !(r['durationMs'] >= 0)) return 'durationMs is invalid';
  if (typeof r['createdAt'] !== 'string' || Number.isNaN(Date.parse(r['createdAt']))) return 'createdAt is not a date';
  if (!Array.isArray(r['outputs'])) return 'outputs is not an array';
  const outputs: unknown[] = r['outputs'];
  for (let i = 0; i < outputs.length; i++) {
    const problem = outputProblem(outputs[i], i);
    if (problem !== undefined) return problem;
  }
  return inlineProblem(r);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why the `inline` table of a (otherwise well-formed) record is not acceptable, if it is not. */
function inlineProblem(r: Record<string, unknown>): string | undefined {
  const table = r['inline'];
  if (table === undefined) return undefined;
  if (r['version'] !== 2) return 'inline blobs need record version 2';
  if (!isPlainObject(table)) return 'inline is not an object';
  const sizes = new Map<string, number | undefined>();
  for (const o of r['outputs'] as Record<string, unknown>[]) if (o['kind'] === 'file') sizes.set(o['digest'] as string, o['size'] as number);
  for (const log of [r['stdout'], r['stderr']]) if (typeof log === 'string' && !sizes.has(log)) sizes.set(log, undefined);
  for (const [digest, text] of Object.entries(table)) {
    if (!sizes.has(digest)) return `inline blob ${digest.slice(0, 12)}… is not named by any output or log`;
    if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) return `inline blob ${digest.slice(0, 12)}… is not base64`;
    const bytes = Buffer.from(text, 'base64');
    if (bytes.length > INLINE_MAX) return `inline blob ${digest.slice(0, 12)}… is larger than ${INLINE_MAX} bytes`;
    const size = sizes.get(digest);
    if (size !== undefined && bytes.length !== size) return `inline blob ${digest.slice(0, 12)}… has ${bytes.length} bytes, not ${size}`;
    if (createHash('sha256').update(bytes).digest('hex') !== digest) return `inline blob ${digest.slice(0, 12)}… does not match its digest`;
  }
  return undefined;
}

/** Action records under `<root>/cache/`. See the design note above. */
export class ActionCache {
  readonly #dir: string;
  readonly #quarantine: string;
  readonly #fsync: boolean;
  #dirReady = false;

  /** `fsync: false`: records are written synchronously without fsync (see `syncTree`). */
  constructor(root: string, opts: { readonly fsync?: boolean } = {}) {
    this.#fsync = opts.fsync ?? true;
    this.#dir = join(root, 'cache');
    this.#quarantine = join(this.#dir, 'quarantine');
  }

  /**
   * Marks the record of `key` as used at `when`: its mtime is the "last used" time `cache gc`
   * evicts by (LRU). Best effort: false when the record is gone (cache clean) or not writable.
   */
  touchSync(key: TaskKey, when: Date): boolean {
    try {
      utimesSync(this.#path(key), when, when);
      return true;
    } catch {
      return false;
    }
  }

  #path(key: TaskKey): string {
    if (!isHexDigest(key)) throw new Error(`Internal error: not a task key: ${JSON.stringify(key)}`);
    return join(this.#dir, `${key}.json`);
  }

  /**
   * Look up the record for `key`: hit, miss, or corrupt (then it is quarantined, unless
   * `quarantine: false`, which read-only callers such as `explain` and the dry run pass).
   */
  async get(key: TaskKey, opts: { readonly quarantine?: boolean } = {}): Promise<ActionLookup> {
    const quarantine = opts.quarantine ?? true;
    let text: string;
    try {
      text = readFileSync(this.#path(key), 'utf8'); // small file: a thread-pool hop costs more than the read
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'miss' };
      return { kind: 'corrupt', message: `cannot read action record ${key}: ${(e as Error).message}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.#corrupt(key, 'not valid JSON', quarantine);
    }
    if (!isPlainObject(parsed)) return this.#corrupt(key, 'not a JSON object', quarantine);
    const { checksum, ...record } = parsed;
    if (checksum !== checksumOf(record)) return this.#corrupt(key, 'checksum mismatch', quarantine);
    const problem = recordProblem(record, key);
    if (problem !== undefined) return this.#corrupt(key, problem, quarantine);
    return { kind: 'hit', record: record as unknown as ActionRecord };
  }

  /**
   * Store (or replace) the record for `record.key`. Throws on an invalid record (a bug).
   * `parsed`: the record is plain JSON data (from JSON.parse) that {@link recordProblem} has just
   * accepted, as an imported remote record is, so the normalisation and the check are not repeated.
   */
  async put(record: ActionRecord, opts: { readonly parsed?: boolean } = {}): Promise<void> {
    // Normalise through JSON first so the checksum covers exactly what a reader will parse.
    const plain = opts.parsed === true ? (record as unknown as Record<string, unknown>) : (JSON.parse(JSON.stringify(record)) as Record<string, unknown>);
    const problem = opts.parsed === true ? undefined : recordProblem(plain);
    if (problem !== undefined) throw new Error(`Internal error: invalid action record for ${record.task}: ${problem}`);
    const text = `${JSON.stringify({ ...plain, checksum: checksumOf(plain) }, null, 2)}\n`;
    if (!this.#dirReady) {
      await mkdir(this.#dir, { recursive: true });
      this.#dirReady = true;
    }
    if (this.#fsync) await writeFileAtomic(this.#path(record.key), text);
    else writeFileAtomicSync(this.#path(record.key), text);
  }

  /** Delete the record for `key` (no-op if absent). */
  async remove(key: TaskKey): Promise<void> {
    await unlinkIfPresent(this.#path(key));
  }

  /** Keys of all stored records (names only; contents are checked by get()). */
  async *list(): AsyncIterable<TaskKey> {
    const names = await readdir(this.#dir).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const m = RECORD_NAME.exec(name);
      if (m?.[1] !== undefined) yield m[1] as TaskKey;
    }
  }

  async #corrupt(key: TaskKey, why: string, quarantine: boolean): Promise<ActionLookup> {
    if (!quarantine) return { kind: 'corrupt', message: `action record ${key} is corrupt (${why})` };
    const dest = join(this.#quarantine, `${key}.json.${Date.now()}-${randomBytes(4).toString('hex')}`);
    const moved = await mkdir(this.#quarantine, { recursive: true })
      .then(() => rename(this.#path(key), dest))
      .then(() => true, () => false);
    return { kind: 'corrupt', message: `action record ${key} is corrupt (${why})${moved ? '; moved to quarantine' : ''}` };
  }
}
