/**
 * `reprovm cache gc`: evict least-recently-used cache entries until the cache is under a size
 * and/or age limit.
 *
 * "Last used" is a record's mtime: it is set when the record is written and touched on every
 * cache hit (src/exec/cache-lookup.ts). Objects have no use time of their own: an object lives
 * as long as some record names it.
 *
 * Order: records that do not parse, then records older than max age, then the least recently
 * used records until the projected size (objects + records on disk) is within max size.
 * Objects are deleted when no remaining record names them (orphans first, they cost nothing).
 *
 * Safety with concurrent builds (which never take the cache lock, and may share the cache
 * dir from other workspaces):
 * - Nothing whose mtime is newer than (gc start − grace) is deleted: a build writes its
 *   objects before its record, so fresh objects of a task whose record is not written yet
 *   survive, as do records just written or just hit.
 * - A record is re-checked right before it is deleted; one touched meanwhile (a hit) stays.
 * - Before objects are deleted the records are listed again, and every object a record names
 *   by then stays, even an old one that a new record reuses.
 * The remaining window (a build that found an old object present, skipped writing it, and
 * writes a record naming it just after gc deleted it) yields a record whose restore fails:
 * that task counts as a miss and runs again; `cache verify --repair` drops such records.
 *
 * When the cache is already within its limits (the usual case after a run), gc stops after
 * one stat per file: no record is read and nothing, not even an orphan object, is deleted.
 *
 * Two maintenance jobs never overlap: gc runs under the cache lock (cache-lock.ts). A dry run
 * takes no lock and deletes nothing.
 */
import { stat, unlink } from 'node:fs/promises';
import { storedBlobs } from '../cas/action-cache.js';
import { withCacheLock } from './cache-lock.js';
import { scanObjects, scanRecordFiles, scanRecords, type RecordEntry } from './cache-scan.js';

/** Options of {@link gcCache}. */
export interface GcOptions {
  /** Target size in bytes (objects + records on disk). */
  maxBytes?: number;
  /** Evict records not used for this long. */
  maxAgeMs?: number;
  dryRun: boolean;
  /** Nothing newer than (start − grace) is deleted; default 5 minutes. */
  graceMs?: number;
  /** How long to wait for the cache lock (default 60 s; 0 = fail at once). */
  lockWaitMs?: number;
}

/** Sizes of the cache before/after a gc. */
export interface GcSizes {
  readonly objects: number;
  readonly records: number;
  readonly bytes: number;
}

/** Result of {@link gcCache}; plain JSON. */
export interface GcReport {
  readonly dryRun: boolean;
  readonly maxBytes?: number;
  readonly maxAgeMs?: number;
  readonly graceMs: number;
  readonly before: GcSizes;
  /** With dryRun: what the cache would be after a real gc. */
  readonly after: GcSizes;
  readonly recordsEvicted: number;
  readonly objectsEvicted: number;
  readonly bytesFreed: number;
  /** False when entries within the grace period keep the cache above maxBytes. */
  readonly underLimit: boolean;
  /** The evicted (or, dry run, evictable) records, least recently used first (at most 1000). */
  readonly evicted: readonly { readonly key: string; readonly task?: string; readonly lastUsed: string }[];
}

export const DEFAULT_GRACE_MS = 5 * 60_000;
const MAX_LISTED = 1000;

/** Evict least-recently-used entries of the cache at `cacheDir` (see the design note above). */
export async function gcCache(cacheDir: string, opts: GcOptions): Promise<GcReport> {
  if (opts.dryRun) return collect(cacheDir, opts);
  return withCacheLock(cacheDir, opts.lockWaitMs ?? 60_000, () => collect(cacheDir, opts));
}

async function collect(cacheDir: string, opts: GcOptions): Promise<GcReport> {
  const start = Date.now();
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const protectAfter = start - graceMs;
  const [objects, files] = await Promise.all([scanObjects(cacheDir), scanRecordFiles(cacheDir)]);
  const total = objects.reduce((a, o) => a + o.size, 0) + files.reduce((a, r) => a + r.size, 0);
  const oldest = files.reduce((a, r) => Math.min(a, r.mtimeMs), Infinity);
  const withinLimits = (opts.maxBytes === undefined || total <= opts.maxBytes) && (opts.maxAgeMs === undefined || oldest >= start - opts.maxAgeMs);
  if (withinLimits) {
    // The common case after a run: nothing to do, and no record needs to be read.
    const sizes: GcSizes = { objects: objects.length, records: files.length, bytes: total };
    return {
      dryRun: opts.dryRun,
      ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
      ...(opts.maxAgeMs === undefined ? {} : { maxAgeMs: opts.maxAgeMs }),
      graceMs, before: sizes, after: sizes, recordsEvicted: 0, objectsEvicted: 0, bytesFreed: 0, underLimit: true, evicted: [],
    };
  }
  const records = await scanRecords(cacheDir);
  const size = new Map(objects.map((o) => [o.digest as string, o]));
  const refs = new Map<string, number>();
  for (const r of records) for (const d of r.record ? storedBlobs(r.record) : []) refs.set(d, (refs.get(d) ?? 0) + 1);
  const before: GcSizes = {
    objects: objects.length,
    records: records.length,
    bytes: objects.reduce((a, o) => a + o.size, 0) + records.reduce((a, r) => a + r.size, 0),
  };

  const deadObjects = new Set<string>();
  let freed = 0;
  const dropObjectIfUnused = (d: string): void => {
    const o = size.get(d);
    if (o === undefined || deadObjects.has(d) || (refs.get(d) ?? 0) > 0 || o.mtimeMs >= protectAfter) return;
    deadObjects.add(d);
    freed += o.size;
  };
  for (const o of objects) dropObjectIfUnused(o.digest);

  const evict: RecordEntry[] = [];
  const evictRecord = (r: RecordEntry): void => {
    evict.push(r);
    freed += r.size;
    for (const d of r.record ? storedBlobs(r.record) : []) {
      refs.set(d, (refs.get(d) ?? 1) - 1);
      dropObjectIfUnused(d);
    }
  };
  const lru = records.filter((r) => r.mtimeMs < protectAfter).sort((a, b) => a.mtimeMs - b.mtimeMs);
  const rest: RecordEntry[] = [];
  for (const r of lru) {
    const tooOld = opts.maxAgeMs !== undefined && r.mtimeMs < start - opts.maxAgeMs;
    if (r.record === undefined || tooOld) evictRecord(r);
    else rest.push(r);
  }
  for (const r of rest) {
    if (opts.maxBytes === undefined || before.bytes - freed <= opts.maxBytes) break;
    evictRecord(r);
  }

  let recordsEvicted = evict.length;
  let objectsEvicted = deadObjects.size;
  let bytesFreed = freed;
  const evicted = evict;
  if (!opts.dryRun) ({ recordsEvicted, objectsEvicted, bytesFreed } = await apply(cacheDir, evict, [...deadObjects].map((d) => size.get(d)!), protectAfter));
  const afterBytes = before.bytes - bytesFreed;
  return {
    dryRun: opts.dryRun,
    ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
    ...(opts.maxAgeMs === undefined ? {} : { maxAgeMs: opts.maxAgeMs }),
    graceMs,
    before,
    after: { objects: before.objects - objectsEvicted, records: before.records - recordsEvicted, bytes: afterBytes },
    recordsEvicted,
    objectsEvicted,
    bytesFreed,
    underLimit: opts.maxBytes === undefined || afterBytes <= opts.maxBytes,
    evicted: evicted.slice(0, MAX_LISTED).map((r) => ({
      key: r.key,
      ...(r.record ? { task: r.record.task } : {}),
      lastUsed: new Date(r.mtimeMs).toISOString(),
    })),
  };
}

/** Delete what the plan says, re-checking each entry against concurrent builds (see the note). */
async function apply(
  cacheDir: string,
  records: readonly RecordEntry[],
  objects: readonly { digest: string; path: string; size: number }[],
  protectAfter: number,
): Promise<{ recordsEvicted: number; objectsEvicted: number; bytesFreed: number }> {
  let recordsEvicted = 0;
  let objectsEvicted = 0;
  let bytesFreed = 0;
  for (const r of records) {
    const st = await stat(r.path).catch(() => undefined);
    if (st === undefined || st.mtimeMs >= protectAfter) continue; // gone, or used since the scan
    if (await unlink(r.path).then(() => true, () => false)) {
      recordsEvicted += 1;
      bytesFreed += r.size;
    }
  }
  // Records written or kept since the scan may name objects the plan meant to delete.
  const needed = new Set<string>();
  for (const r of await scanRecords(cacheDir)) for (const d of r.record ? storedBlobs(r.record) : []) needed.add(d);
  for (const o of objects) {
    if (needed.has(o.digest)) continue;
    const st = await stat(o.path).catch(() => undefined);
    if (st === undefined || st.mtimeMs >= protectAfter) continue;
    if (await unlink(o.path).then(() => true, () => false)) {
      objectsEvicted += 1;
      bytesFreed += o.size;
    }
  }
  return { recordsEvicted, objectsEvicted, bytesFreed };
}
