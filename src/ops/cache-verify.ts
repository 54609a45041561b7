/**
 * `reprovm cache verify [--repair]`: decode every object and compare it with its digest, check
 * every action record (checksum, shape) and that every blob it names is present and sound.
 *
 * Without --repair nothing is changed (objects are checked here, not through
 * ObjectStore.verify, which would quarantine on its own). With --repair, under the cache lock
 * (taken by the caller): corrupt objects go to `cas/quarantine/`, corrupt records to
 * `cache/quarantine/`, and records naming a missing or corrupt blob are deleted (the task
 * simply runs again next time). Problems found and fixed are reported; `ok` is true when none
 * remain.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { ActionCache, storedBlobs } from '../cas/action-cache.js';
import { createDecoder, HEADER_SIZE, loadNatives, parseHeader } from '../cas/codec.js';
import { ObjectStore } from '../cas/object-store.js';
import { withCacheLock } from './cache-lock.js';
import { objectsDir, scanObjects, scanRecords } from './cache-scan.js';

/** One problem found by {@link verifyCache}. */
export interface VerifyProblem {
  readonly kind: 'corrupt-object' | 'corrupt-record' | 'dangling-record';
  /** Object digest or record key. */
  readonly id: string;
  readonly task?: string;
  readonly message: string;
  /** True when --repair fixed it (quarantined or dropped). */
  readonly repaired: boolean;
}

/** Result of {@link verifyCache}; plain JSON. */
export interface VerifyReport {
  readonly objectsChecked: number;
  readonly recordsChecked: number;
  readonly problems: readonly VerifyProblem[];
  /** Problems not repaired. */
  readonly remaining: number;
  readonly ok: boolean;
}

const CONCURRENCY = 4;

/** Why the object file at `path` does not hold the content named `digest`, or undefined if it does. */
export async function objectProblem(path: string, digest: string): Promise<string | undefined> {
  const fh = await open(path, 'r').catch((e: unknown) => e as Error);
  if (fh instanceof Error) return `cannot open: ${fh.message}`;
  let header;
  try {
    const buf = Buffer.alloc(HEADER_SIZE);
    const { bytesRead } = await fh.read(buf, 0, HEADER_SIZE, 0);
    header = parseHeader(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
  if (!header.ok) return header.error;
  const hash = createHash('sha256');
  let size = 0;
  try {
    const natives = await loadNatives([header.value.codec]);
    await pipeline(
      createReadStream(path, { start: HEADER_SIZE }),
      createDecoder(natives, header.value.codec),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          hash.update(chunk);
          cb();
        },
      }),
    );
  } catch (e: unknown) {
    return `does not decode: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (size !== header.value.size) return `decoded ${size} bytes, header says ${header.value.size}`;
  if (hash.digest('hex') !== digest) return 'content does not match its digest';
  return undefined;
}

/** Run `fn` over `items` with at most `n` in flight. */
async function eachLimited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

/** Check the whole cache at `cacheDir`; with `repair`, fix what can be fixed (see the note above). */
export async function verifyCache(
  cacheDir: string,
  opts: { repair: boolean; lockWaitMs?: number; /** Test hook: runs between the object scan and the record scan. */ afterObjectScan?: () => Promise<void> },
): Promise<VerifyReport> {
  return opts.repair ? withCacheLock(cacheDir, opts.lockWaitMs ?? 60_000, () => check(cacheDir, opts)) : check(cacheDir, opts);
}

async function check(cacheDir: string, opts: { repair: boolean; afterObjectScan?: () => Promise<void> }): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const store = new ObjectStore(cacheDir, { codec: 'none', level: 0 });
  const actions = new ActionCache(cacheDir);
  const objects = await scanObjects(cacheDir);
  const bad = new Set<string>();
  await eachLimited(objects, CONCURRENCY, async (o) => {
    const why = await objectProblem(o.path, o.digest);
    if (why === undefined) return;
    bad.add(o.digest);
    if (opts.repair) await store.quarantine(o.digest);
    problems.push({ kind: 'corrupt-object', id: o.digest, message: `object ${o.digest} is corrupt (${why})`, repaired: opts.repair });
  });
  const present = new Set(objects.map((o) => o.digest as string));
  await opts.afterObjectScan?.();
  const records = await scanRecords(cacheDir);
  // A build running meanwhile stores objects before the record naming them: a blob that was not
  // there when objects were listed is looked for again (and checked) before it counts as missing.
  const lateObject = async (d: string): Promise<boolean> => {
    const file = join(objectsDir(cacheDir), d.slice(0, 2), d.slice(2));
    if (!existsSync(file)) return false;
    const why = await objectProblem(file, d);
    if (why !== undefined) return false; // possibly still being written; reported as unusable
    present.add(d);
    return true;
  };
  for (const r of records) {
    if (r.record === undefined) {
      if (opts.repair) await actions.get(r.key); // a corrupt record is moved to quarantine by get()
      problems.push({ kind: 'corrupt-record', id: r.key, message: r.problem ?? `action record ${r.key} is corrupt`, repaired: opts.repair });
      continue;
    }
    const missing: string[] = [];
    for (const d of storedBlobs(r.record)) {
      if (bad.has(d) || (!present.has(d) && !(await lateObject(d)))) missing.push(d);
    }
    if (missing.length === 0) continue;
    if (opts.repair) await actions.remove(r.key);
    const what = missing.map((d) => `${d.slice(0, 12)}…${bad.has(d) ? ' (corrupt)' : ' (missing)'}`).join(', ');
    problems.push({
      kind: 'dangling-record', id: r.key, task: r.record.task, repaired: opts.repair,
      message: `action record ${r.key} of task "${r.record.task}" names blobs that are not usable: ${what}`,
    });
  }
  await store.close();
  const remaining = problems.filter((p) => !p.repaired).length;
  return { objectsChecked: objects.length, recordsChecked: records.length, problems, remaining, ok: remaining === 0 };
}
