/**
 * Design note: the layout of a shared remote cache, relative to the remote's prefix.
 *
 *   cas/<64 hex>          one blob per object, byte-identical to the local object file
 *                         (`<cache-dir>/cas/objects/ab/cdef…`: 16-byte header + codec payload),
 *                         named by the SHA-256 of its uncompressed content. Flat, because object
 *                         stores have no directories to fan out.
 *   ac/<task key>.json    the action record of a task key, wrapped in a {@link RemoteRecordFile}
 *                         (format version, the record, optional HMAC signature).
 *
 * Ordering is the integrity rule: a record is put only after every blob it names is present
 * remotely (checked with `stat` before each put, so a present blob is never uploaded again).
 * A reader therefore never sees a record whose blobs are missing, except after someone deleted
 * blobs by hand; that is treated as a miss.
 *
 * Readers trust nothing: the record's shape and key are checked, its signature when a key is
 * configured, and every blob is decoded and hashed while it streams in, before it is renamed
 * into the local CAS (see remote-import.ts).
 */
import { recordProblem, type ActionRecord } from '../cas/action-cache.js';
import type { BlobStore, RequestOptions } from '../remote/blob-store.js';
import { getSmall } from '../remote/read-small.js';
import { signRecord } from './signing.js';

/** Version of the remote record file; a reader that does not know it treats the record as corrupt. */
export const REMOTE_RECORD_FORMAT = 1;

/** Largest action record file a reader accepts (a record is a few KiB; this bounds memory). */
export const MAX_REMOTE_RECORD_BYTES = 16 << 20;

/** What `ac/<key>.json` holds. */
export interface RemoteRecordFile {
  readonly format: typeof REMOTE_RECORD_FORMAT;
  readonly record: ActionRecord;
  /** `hmac-sha256:<64 hex>` over the record (signing.ts); absent when the writer had no key. */
  readonly signature?: string;
}

/** Remote key of a blob. */
export function casKey(digest: string): string {
  return `cas/${digest}`;
}

/** Remote key of an action record. */
export function acKey(taskKey: string): string {
  return `ac/${taskKey}.json`;
}


/** A parsed `ac/<key>.json`: the record (shape and key checked) and its signature as stored, or the problem. */
export type ParsedRemoteRecord =
  | { readonly ok: true; readonly record: ActionRecord; readonly signature: unknown }
  | { readonly ok: false; readonly problem: string };

/** Parses and checks a remote record file for `key`; the signature is checked by the caller (signing.ts). */
export function parseRemoteRecord(bytes: Buffer, key: string): ParsedRemoteRecord {
  let file: unknown;
  try {
    file = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, problem: 'not valid JSON' };
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) return { ok: false, problem: 'not a JSON object' };
  const f = file as Partial<RemoteRecordFile>;
  if (f.format !== REMOTE_RECORD_FORMAT) return { ok: false, problem: `unknown format ${JSON.stringify(f.format)}` };
  const problem = recordProblem(f.record, key);
  if (problem !== undefined || f.record === undefined) return { ok: false, problem: problem ?? 'no record' };
  return { ok: true, record: f.record, signature: f.signature };
}

/** The bytes of `ac/<key>.json` for a record, signed when a key is given. */
export function encodeRemoteRecord(record: ActionRecord, signingKey: Buffer | undefined): Buffer {
  const file: RemoteRecordFile = { format: REMOTE_RECORD_FORMAT, record, ...(signingKey ? { signature: signRecord(record, signingKey) } : {}) };
  return Buffer.from(`${JSON.stringify(file)}\n`);
}

/**
 * The bytes of `ac/<key>.json` from `store`, or undefined when there is none; a file larger than
 * {@link MAX_REMOTE_RECORD_BYTES} is refused (as `integrity`).
 */
export function readRemoteRecord(store: BlobStore, key: string, opts?: RequestOptions): Promise<Buffer | undefined> {
  return getSmall(store, acKey(key), MAX_REMOTE_RECORD_BYTES, `action record ${key}`, opts);
}
