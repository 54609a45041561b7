/**
 * Moving backup archives in and out of a {@link BlobStore}: pack a staging directory into a
 * `.tar.zst` blob, read just the manifest (first entry), and unpack a whole archive into a
 * directory, checking it entry by entry against its manifest. Format: see manifest.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { createDecoder, createEncoder, loadNatives } from '../../cas/codec.js';
import type { BlobStore } from '../../remote/blob-store.js';
import { objectProblem } from '../cache-verify.js';
import { backupKey, MANIFEST_ENTRY, parseManifest, type BackupManifest } from './manifest.js';

/** A backup that cannot be used; the message names the backup and the problem. */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}

const ZSTD_LEVEL = 3;

/** SHA-256 and size of a file. */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    size += (chunk as Buffer).length;
    h.update(chunk as Buffer);
  }
  return { sha256: h.digest('hex'), size };
}

/** Pack `entries` (paths relative to `dir`, the manifest first) into `key` of `store`. */
export async function writeArchive(store: BlobStore, key: string, dir: string, entries: readonly string[]): Promise<number> {
  const natives = await loadNatives(['zstd']);
  const pack = tar.c({ cwd: dir, portable: true }, [...entries]);
  const encoder = createEncoder(natives, 'zstd', ZSTD_LEVEL);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  await Promise.all([
    pipeline(Readable.from(pack as AsyncIterable<Buffer>), encoder, counter),
    store.put(key, counter, { contentType: 'application/zstd' }).catch((e: unknown) => {
      counter.destroy(); // unblock the packer: nobody reads any more
      throw e;
    }),
  ]);
  return bytes;
}

/** The decoded tar byte stream of a backup; a missing backup is a {@link BackupError}. */
async function openTar(store: BlobStore, name: string): Promise<Readable> {
  const body = await store.get(backupKey(name));
  if (body === undefined) throw new BackupError(`backup ${name} does not exist in ${store.description}`);
  const natives = await loadNatives(['zstd']);
  const decoder = createDecoder(natives, 'zstd');
  body.on('error', (e) => decoder.destroy(e));
  return body.pipe(decoder);
}

/** Read only the manifest of a backup (its first entry). */
export async function readManifest(store: BlobStore, name: string): Promise<BackupManifest> {
  const source = await openTar(store, name);
  const parser = new tar.Parser();
  const text = await new Promise<string>((resolve, reject) => {
    let first = true;
    parser.on('entry', (entry: tar.ReadEntry) => {
      if (!first) return entry.resume();
      first = false;
      if (entry.path !== MANIFEST_ENTRY) return reject(new BackupError(`backup ${name}: the first entry is ${entry.path}, not ${MANIFEST_ENTRY}`));
      const bufs: Buffer[] = [];
      entry.on('data', (b: Buffer) => bufs.push(b));
      entry.on('end', () => resolve(Buffer.concat(bufs).toString('utf8')));
    });
    parser.on('error', (e: unknown) => reject(new BackupError(`backup ${name} is not a valid archive: ${String(e)}`)));
    source.on('data', (c: Buffer) => parser.write(c));
    source.on('end', () => {
      parser.end();
      reject(new BackupError(`backup ${name} has no ${MANIFEST_ENTRY}`));
    });
    source.on('error', (e) => reject(new BackupError(`backup ${name} cannot be read: ${e.message}`)));
  }).finally(() => source.destroy());
  const m = parseManifest(text);
  if (typeof m === 'string') throw new BackupError(`backup ${name}: ${m}`);
  if (m.name !== name) throw new BackupError(`backup ${name}: its manifest names ${m.name}`);
  return m;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * Unpack a backup into the empty directory `dir` and check it: only regular files and
 * directories, exactly the manifest's files, each with its size and SHA-256, every object
 * decoding to its digest. Throws {@link BackupError} on the first problem.
 */
export async function extractArchive(store: BlobStore, name: string, dir: string): Promise<BackupManifest> {
  const source = await openTar(store, name);
  const rejected: string[] = [];
  const unpack = tar.x({
    cwd: dir,
    strict: true,
    filter: (p: string, e: unknown) => {
      const type = (e as { type?: string }).type;
      if (type === 'File' || type === 'Directory') return true;
      rejected.push(p);
      return false;
    },
  });
  // A corrupt archive makes the unpacker fail while chunks are still being written: remember the
  // failure (a rejected promise nobody awaits yet would crash the process), stop feeding it, and
  // never wait for a 'drain' that a failed unpacker will not send.
  let failure: BackupError | undefined;
  const done = new Promise<void>((resolve) => {
    unpack.on('close', () => resolve());
    unpack.on('error', (e: unknown) => {
      failure ??= new BackupError(`backup ${name} is not a valid archive: ${String(e)}`);
      resolve();
    });
  });
  try {
    for await (const chunk of source) {
      if (failure) break;
      if (!unpack.write(chunk as Buffer)) await Promise.race([once(unpack as unknown as NodeJS.EventEmitter, 'drain'), done]);
    }
  } catch (e: unknown) {
    throw new BackupError(`backup ${name} cannot be decompressed (torn or corrupt): ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!failure) unpack.end();
  await done;
  if (failure) throw failure;
  if (rejected.length > 0) throw new BackupError(`backup ${name} contains entries that are not plain files: ${rejected.slice(0, 3).join(', ')}`);
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_ENTRY), 'utf8');
  } catch {
    throw new BackupError(`backup ${name} has no ${MANIFEST_ENTRY}`);
  }
  const m = parseManifest(text);
  if (typeof m === 'string') throw new BackupError(`backup ${name}: ${m}`);
  if (m.name !== name) throw new BackupError(`backup ${name}: its manifest names ${m.name}`);
  await checkAgainstManifest(name, dir, m);
  return m;
}

async function checkAgainstManifest(name: string, dir: string, m: BackupManifest): Promise<void> {
  const listed = new Map(m.files.map((f) => [f.path, f]));
  for (const p of await listFiles(dir)) {
    if (p !== MANIFEST_ENTRY && !listed.has(p)) throw new BackupError(`backup ${name} contains ${p}, which its manifest does not list`);
  }
  for (const f of m.files) {
    const abs = join(dir, f.path);
    const st = await stat(abs).catch(() => undefined);
    if (!st?.isFile()) throw new BackupError(`backup ${name} is missing ${f.path}`);
    const got = await hashFile(abs);
    if (got.size !== f.size || got.sha256 !== f.sha256) throw new BackupError(`backup ${name}: ${f.path} does not match its manifest digest (corrupt backup)`);
    const obj = /^cas\/objects\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(f.path);
    if (obj) {
      const why = await objectProblem(abs, obj[1]! + obj[2]!);
      if (why !== undefined) throw new BackupError(`backup ${name}: object ${obj[1]}${obj[2]} is corrupt (${why})`);
    }
  }
}
