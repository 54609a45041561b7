/**
 * `cache stats --remote` and `cache verify --remote`: what the remote cache holds, and whether
 * it is sound — every record well-formed (and signed, when a key is configured), every blob
 * decoding to its name, every blob a record names present. Read-only: problems are reported,
 * never repaired remotely (a shared bucket is not one machine's to clean up).
 */
import { storedBlobs, type ActionRecord } from '../cas/action-cache.js';
import { isHexDigest, type FileDigest } from '../hash/digest.js';
import type { BlobStore } from '../remote/blob-store.js';
import { Limiter } from './limiter.js';
import { verifyBlobStream } from './remote-import.js';
import { acKey, casKey, parseRemoteRecord, readRemoteRecord } from './remote-layout.js';
import { checkSignature } from './signing.js';

/** Counts and sizes of a remote cache. */
export interface RemoteStats {
  readonly remote: string;
  readonly objects: number;
  readonly bytes: number;
  readonly records: number;
  readonly recordBytes: number;
}

/** One problem found by {@link verifyRemote}. */
export interface RemoteProblem {
  readonly kind: 'corrupt-blob' | 'missing-blob' | 'bad-record' | 'unsigned-record' | 'bad-signature';
  /** Remote key of the blob or record. */
  readonly key: string;
  readonly message: string;
}

/** The result of {@link verifyRemote} (JSON-serialisable). */
export interface RemoteVerifyReport {
  readonly remote: string;
  readonly ok: boolean;
  readonly blobsChecked: number;
  readonly recordsChecked: number;
  readonly problems: RemoteProblem[];
}

const CAS = /^cas\/([0-9a-f]{64})$/;
const AC = /^ac\/([0-9a-f]{64})\.json$/;

/** Lists the remote's blobs and records. */
export async function remoteStats(store: BlobStore): Promise<RemoteStats> {
  let objects = 0;
  let bytes = 0;
  let records = 0;
  let recordBytes = 0;
  for await (const b of store.list('cas/')) {
    if (!CAS.test(b.key)) continue;
    objects += 1;
    bytes += b.size;
  }
  for await (const r of store.list('ac/')) {
    if (!AC.test(r.key)) continue;
    records += 1;
    recordBytes += r.size;
  }
  return { remote: store.description, objects, bytes, records, recordBytes };
}

/** Downloads and checks every record and blob of the remote (bounded concurrency). */
export async function verifyRemote(store: BlobStore, opts: { signingKey?: Buffer; concurrency?: number }): Promise<RemoteVerifyReport> {
  const limit = new Limiter(opts.concurrency ?? 8);
  const problems: RemoteProblem[] = [];
  const present = new Set<string>();
  const blobKeys: string[] = [];
  for await (const b of store.list('cas/')) {
    const m = CAS.exec(b.key);
    if (m?.[1] === undefined) continue;
    present.add(m[1]);
    blobKeys.push(m[1]);
  }
  const recordKeys: string[] = [];
  for await (const r of store.list('ac/')) {
    const m = AC.exec(r.key);
    if (m?.[1] !== undefined) recordKeys.push(m[1]);
  }
  await Promise.all(
    blobKeys.map((digest) =>
      limit.run(async () => {
        const body = await store.get(casKey(digest));
        if (body === undefined) return; // deleted meanwhile
        body.on('error', () => undefined);
        const r = await verifyBlobStream(body, digest as FileDigest);
        if (!r.ok) problems.push({ kind: 'corrupt-blob', key: casKey(digest), message: `blob ${digest} is corrupt: ${r.message}` });
      }),
    ),
  );
  await Promise.all(
    recordKeys.map((key) =>
      limit.run(async () => {
        const bytes = await readRemoteRecord(store, key);
        if (bytes === undefined) return;
        const parsed = parseRemoteRecord(bytes, key);
        if (!parsed.ok) {
          problems.push({ kind: 'bad-record', key: acKey(key), message: `record ${key} is malformed: ${parsed.problem}` });
          return;
        }
        const record: ActionRecord = parsed.record;
        if (opts.signingKey !== undefined) {
          const v = checkSignature(record, parsed.signature, opts.signingKey);
          if (v === 'missing') problems.push({ kind: 'unsigned-record', key: acKey(key), message: `record ${key} (task "${record.task}") is not signed` });
          if (v === 'invalid') problems.push({ kind: 'bad-signature', key: acKey(key), message: `record ${key} (task "${record.task}") has a bad signature` });
        }
        for (const d of storedBlobs(record)) {
          if (isHexDigest(d) && !present.has(d)) {
            problems.push({ kind: 'missing-blob', key: casKey(d), message: `record ${key} (task "${record.task}") names blob ${d}, which is missing` });
          }
        }
      }),
    ),
  );
  problems.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { remote: store.description, ok: problems.length === 0, blobsChecked: blobKeys.length, recordsChecked: recordKeys.length, problems };
}
