/**
 * Google Cloud Storage as a {@link BlobStore}, on @google-cloud/storage 7 loaded by dynamic
 * import. The endpoint is `--remote-endpoint`, else STORAGE_EMULATOR_HOST, else Google's; with a
 * custom endpoint the SDK sends no credentials, otherwise it uses Application Default Credentials
 * (GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, workload identity). The SDK's own retries are
 * off: the resilient wrapper retries.
 *
 * The SDK checks uploads and downloads against the server's CRC32C/MD5 (a mismatch is an
 * `integrity` error). Its calls take no AbortSignal, so an abort rejects the call at once and
 * destroys any stream; the request itself is abandoned.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, Storage } from '@google-cloud/storage';
import { BlobStoreError, type BlobInfo, type BlobStore, type PutOptions, type PutOutcome, type RequestOptions } from './blob-store.js';
import { abortError, throwIfAborted } from './abort.js';
import { checkedBody } from './checked-body.js';
import { classifyError, errorKind, httpStatus, type NotFoundMeaning } from './classify-error.js';
import { assertValidKey } from './keys.js';
import { describeEndpoint, describeLocation, storeTuning, type RemoteLocation, type RemoteOptions, type StoreTuning } from './remote-options.js';

/** Buffers below this go up in one multipart request; larger bodies and streams resumably. */
const SIMPLE_UPLOAD_LIMIT = 16 * 1024 * 1024;

/** The project id sent to an emulator or loopback fake, which ignores it. */
const LOCAL_PROJECT_ID = 'reprovm-local';

/** Opens a GCS store for `loc` (loads the SDK). */
export async function openGcsStore(loc: RemoteLocation, opts: RemoteOptions): Promise<BlobStore> {
  const { Storage } = await import('@google-cloud/storage');
  const emulator = opts.env.STORAGE_EMULATOR_HOST;
  const endpoint = nonEmpty(opts.endpoint) ?? (emulator === undefined || emulator === '' ? undefined : emulatorEndpoint(emulator));
  const projectId = nonEmpty(opts.env.GOOGLE_CLOUD_PROJECT) ?? nonEmpty(opts.env.GCLOUD_PROJECT);
  // A custom endpoint (a private gateway, a regional endpoint) still needs credentials; only the
  // emulator (STORAGE_EMULATOR_HOST) and a loopback fake are reached without them.
  const anonymous = endpoint !== undefined && (nonEmpty(opts.endpoint) === undefined || isLoopback(endpoint));
  const storage = new Storage({
    ...(endpoint === undefined ? {} : { apiEndpoint: endpoint, useAuthWithCustomEndpoint: !anonymous }),
    // Bucket creation names a project. A real endpoint without GOOGLE_CLOUD_PROJECT lets the SDK
    // find it (credentials, metadata server); an emulator or loopback fake has no project
    // registry and accepts any id, so it gets LOCAL_PROJECT_ID instead of a metadata-server lookup.
    ...(projectId !== undefined ? { projectId } : anonymous ? { projectId: LOCAL_PROJECT_ID } : {}),
    retryOptions: { autoRetry: false, maxRetries: 0 },
    ...(opts.requestTimeoutMs === undefined ? {} : { timeout: opts.requestTimeoutMs }),
  });
  const where = describeLocation(loc) + (endpoint === undefined ? '' : ` (endpoint ${describeEndpoint(endpoint)})`);
  return new GcsBlobStore(storage, loc, where, storeTuning(opts, 1000));
}

/** True when `endpoint` names this machine (a local fake needs no credentials). */
export function isLoopback(endpoint: string): boolean {
  let host: string;
  try {
    host = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

class GcsBlobStore implements BlobStore {
  readonly description: string;
  readonly #storage: Storage;
  readonly #bucket: Bucket;
  readonly #prefix: string;
  readonly #pageSize: number;
  readonly #idleMs: number;
  #bucketSeen = false;

  constructor(storage: Storage, loc: RemoteLocation, description: string, tuning: StoreTuning) {
    this.#storage = storage;
    this.#bucket = storage.bucket(loc.bucket);
    this.#prefix = loc.prefix;
    this.description = description;
    this.#pageSize = tuning.pageSize;
    this.#idleMs = tuning.idleMs;
  }

  async has(key: string, opts?: RequestOptions): Promise<boolean> {
    return (await this.stat(key, opts)) !== undefined;
  }

  async stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    try {
      const [meta] = await raceAbort(this.#bucket.file(this.#prefix + key).getMetadata(), opts?.signal);
      this.#bucketSeen = true;
      return { key, size: Number(meta.size ?? 0) };
    } catch (e: unknown) {
      if (isNotFound(e)) {
        await this.#requireBucket(opts);
        return undefined;
      }
      throw this.#error(e, `stat ${key}`);
    }
  }

  async get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    const what = `${this.description}: get ${key}`;
    const src = this.#bucket.file(this.#prefix + key).createReadStream({ validation: 'crc32c' });
    // The request starts when the stream is first read; wait for its answer so that a missing
    // object is `undefined` rather than a stream that errors.
    const length = await new Promise<number | undefined>((resolve, reject) => {
      const onAbort = (): void => {
        src.destroy();
        reject(abortError(opts?.signal as AbortSignal, what));
      };
      opts?.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => opts?.signal?.removeEventListener('abort', onAbort);
      src.once('error', (e: unknown) => {
        done();
        reject(e);
      });
      src.once('response', (res: { statusCode?: number; headers: Record<string, string | string[] | undefined> }) => {
        if ((res.statusCode ?? 0) >= 300) return; // the error event follows with the details
        done();
        const len = res.headers['content-length'];
        // A gzip-encoded answer is decompressed by the SDK, so its length says nothing.
        resolve(res.headers['content-encoding'] === 'gzip' || typeof len !== 'string' ? undefined : Number(len));
      });
      src.read(0);
    }).catch(async (e: unknown) => {
      if (e instanceof BlobStoreError) throw e;
      if (isNotFound(e)) {
        await this.#requireBucket(opts);
        return null;
      }
      throw this.#error(e, `get ${key}`);
    });
    if (length === null) return undefined;
    this.#bucketSeen = true;
    const out = checkedBody(src, length, what, (e) => this.#error(e, `get ${key}`), this.#idleMs);
    const signal = opts?.signal;
    if (signal !== undefined) {
      const onAbort = (): void => void out.destroy(abortError(signal, what));
      signal.addEventListener('abort', onAbort, { once: true });
      out.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return out;
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    if (Buffer.isBuffer(body) && opts?.size !== undefined && opts.size !== body.length) {
      throw new BlobStoreError('integrity', `${this.description}: put ${key}: body has ${body.length} bytes, announced ${opts.size}`);
    }
    const file = this.#bucket.file(this.#prefix + key);
    const resumable = !Buffer.isBuffer(body) || body.length >= SIMPLE_UPLOAD_LIMIT;
    const sink = file.createWriteStream({
      resumable,
      validation: 'crc32c',
      contentType: opts?.contentType ?? 'application/octet-stream',
      metadata: { contentType: opts?.contentType ?? 'application/octet-stream' },
      // Generation 0 means "no live object": the upload fails with 412 when the key exists.
      ...(opts?.ifAbsent === true ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
    });
    try {
      const source = Buffer.isBuffer(body) ? [body] : body;
      await pipeline(source, sink, opts?.signal === undefined ? {} : { signal: opts.signal });
      this.#bucketSeen = true;
      return 'stored';
    } catch (e: unknown) {
      if (opts?.signal?.aborted === true) throw abortError(opts.signal, `${this.description}: put ${key}`);
      if (opts?.ifAbsent === true && httpStatus(e) === 412) return 'exists';
      throw this.#error(e, `put ${key}`, 'no-bucket');
    }
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    let pageToken: string | undefined;
    do {
      throwIfAborted(opts?.signal);
      let files;
      let next: { pageToken?: string } | null | undefined;
      try {
        [files, next] = await raceAbort(
          this.#bucket.getFiles({
            prefix: this.#prefix + prefix,
            maxResults: this.#pageSize,
            autoPaginate: false,
            ...(pageToken === undefined ? {} : { pageToken }),
          }),
          opts?.signal,
        );
      } catch (e: unknown) {
        throw this.#error(e, `list ${prefix}`, 'no-bucket');
      }
      for (const f of files) {
        if (!f.name.startsWith(this.#prefix)) continue;
        yield { key: f.name.slice(this.#prefix.length), size: Number(f.metadata.size ?? 0) };
      }
      pageToken = next?.pageToken;
    } while (pageToken !== undefined);
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    assertValidKey(key);
    try {
      await raceAbort(this.#bucket.file(this.#prefix + key).delete(), opts?.signal);
    } catch (e: unknown) {
      if (isNotFound(e)) {
        await this.#requireBucket(opts);
        return;
      }
      throw this.#error(e, `delete ${key}`);
    }
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    try {
      const [exists] = await raceAbort(this.#bucket.exists(), opts?.signal);
      if (!exists) await raceAbort(this.#storage.createBucket(this.#bucket.name), opts?.signal);
    } catch (e: unknown) {
      // 409: created meanwhile by someone else, which is what we wanted.
      if (errorKind(e).status !== 409) throw this.#error(e, 'create bucket');
    }
    this.#bucketSeen = true;
  }

  async close(): Promise<void> {
    // The SDK keeps no sockets beyond Node's global agent's idle keep-alive ones.
  }

  async #requireBucket(opts: RequestOptions | undefined): Promise<void> {
    if (this.#bucketSeen) return;
    let exists: boolean;
    try {
      [exists] = await raceAbort(this.#bucket.exists(), opts?.signal);
    } catch (e: unknown) {
      throw this.#error(e, 'look up bucket');
    }
    if (!exists) {
      throw new BlobStoreError('no-bucket', `${this.description}: bucket "${this.#bucket.name}" does not exist; create it or run \`reprovm cache init-remote\``, 404);
    }
    this.#bucketSeen = true;
  }

  #error(e: unknown, op: string, notFound: NotFoundMeaning = 'permanent'): BlobStoreError {
    return classifyError(e, `${this.description}: ${op}`, notFound);
  }
}

/** Rejects with {@link abortError} as soon as `signal` fires (the SDK call itself is abandoned). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function isNotFound(e: unknown): boolean {
  return errorKind(e).status === 404;
}

/** STORAGE_EMULATOR_HOST is `host:port` or a URL, sometimes with the `/storage/v1` base path. */
function emulatorEndpoint(value: string): string {
  const url = /^https?:\/\//.test(value) ? value : `http://${value}`;
  return url.replace(/\/+$/, '').replace(/\/storage\/v1$/, '');
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
