/**
 * `reprovm cache stats`: what the cache holds and how well it served the last runs.
 * The run history it reports comes from run-history.ts.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_SIZE, parseHeader } from '../cas/codec.js';
import { dirUsage, scanObjects, scanRecords } from './cache-scan.js';
import { readRunStats, type RunStatsEntry } from './run-history.js';

/** Result of {@link cacheStats}; plain JSON. */
export interface CacheStats {
  readonly cacheDir: string;
  readonly objects: number;
  /** Bytes of object files on disk (compressed, headers included). */
  readonly bytes: number;
  /** Sum of the objects' uncompressed sizes (from their headers). */
  readonly uncompressedBytes: number;
  readonly records: number;
  readonly recordBytes: number;
  /** Records that do not parse or verify (see `cache verify`). */
  readonly corruptRecords: number;
  readonly quarantine: { readonly objects: number; readonly records: number; readonly bytes: number };
  /** ISO times of the least and most recently used records. */
  readonly oldestUse?: string;
  readonly newestUse?: string;
  /** The last runs (newest last) and their combined hit rate: cached / (executed + cached). */
  readonly recentRuns: readonly (RunStatsEntry & { readonly hitRate: number | null })[];
  readonly hitRate: number | null;
}

const SHOWN_RUNS = 10;

const rate = (cached: number, executed: number): number | null => (cached + executed === 0 ? null : cached / (cached + executed));

async function uncompressedSize(path: string): Promise<number> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return 0;
  try {
    const buf = Buffer.alloc(HEADER_SIZE);
    const { bytesRead } = await fh.read(buf, 0, HEADER_SIZE, 0);
    const h = parseHeader(buf.subarray(0, bytesRead));
    return h.ok ? h.value.size : 0;
  } finally {
    await fh.close();
  }
}

/** Count what the cache at `cacheDir` holds (read-only; a missing directory is an empty cache). */
export async function cacheStats(cacheDir: string): Promise<CacheStats> {
  const [objects, records] = await Promise.all([scanObjects(cacheDir), scanRecords(cacheDir)]);
  let uncompressedBytes = 0;
  for (let i = 0; i < objects.length; i += 64) {
    const sizes = await Promise.all(objects.slice(i, i + 64).map((o) => uncompressedSize(o.path)));
    for (const s of sizes) uncompressedBytes += s;
  }
  const [qObjects, qRecords] = await Promise.all([dirUsage(join(cacheDir, 'cas', 'quarantine')), dirUsage(join(cacheDir, 'cache', 'quarantine'))]);
  const uses = records.map((r) => r.mtimeMs).sort((a, b) => a - b);
  const runs = readRunStats(cacheDir).slice(-SHOWN_RUNS);
  const sum = runs.reduce((a, r) => ({ cached: a.cached + r.cached, executed: a.executed + r.executed }), { cached: 0, executed: 0 });
  return {
    cacheDir,
    objects: objects.length,
    bytes: objects.reduce((a, o) => a + o.size, 0),
    uncompressedBytes,
    records: records.length,
    recordBytes: records.reduce((a, r) => a + r.size, 0),
    corruptRecords: records.filter((r) => r.record === undefined).length,
    quarantine: { objects: qObjects.files, records: qRecords.files, bytes: qObjects.bytes + qRecords.bytes },
    ...(uses.length > 0 ? { oldestUse: new Date(uses[0]!).toISOString(), newestUse: new Date(uses[uses.length - 1]!).toISOString() } : {}),
    recentRuns: runs.map((r) => ({ ...r, hitRate: rate(r.cached, r.executed) })),
    hitRate: rate(sum.cached, sum.executed),
  };
}
