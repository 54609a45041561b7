/**
 * Azure Blob Storage as a {@link BlobStore} (`azblob://container/prefix`), on @azure/storage-blob
 * loaded by dynamic import. Credentials, first match wins:
 *   1. AZURE_STORAGE_CONNECTION_STRING (its BlobEndpoint unless --remote-endpoint is given);
 *   2. AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY (shared key);
 *   3. AZURE_STORAGE_SAS_TOKEN (appended to the endpoint's query);
 *   4. none (a public container, or a SAS already in --remote-endpoint).
 * The endpoint is --remote-endpoint (e.g. `http://127.0.0.1:10000/devstoreaccount1` for
 * azurite), else `https://<account>.blob.core.windows.net`. The SDK's own retries are off
 * (one try; the resilient wrapper retries), and so is its resumption of broken downloads, so
 * that a connection lost mid-body surfaces as an error.
 *
 * Uploads of streams go through staged blocks committed at the end, and small buffers through
 * one Put Blob: either way readers see the old blob or the whole new one.
 */
import type { Readable } from 'node:stream';
import type { BlobServiceClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { BlobStoreError, type BlobInfo, type BlobStore, type PutOptions, type PutOutcome, type RequestOptions } from './blob-store.js';
import { abortError, throwIfAborted } from './abort.js';
import { checkedBody } from './checked-body.js';
import { classifyError, errorKind, httpStatus, type NotFoundMeaning } from './classify-error.js';
import { assertValidKey } from './keys.js';
import { describeEndpoint, describeLocation, storeTuning, type RemoteLocation, type RemoteOptions, type StoreTuning } from './remote-options.js';

const SIMPLE_UPLOAD_LIMIT = 16 * 1024 * 1024;
const BLOCK_SIZE = 8 * 1024 * 1024;
const BLOCK_CONCURRENCY = 4;

/** Opens an Azure Blob store for `loc` (loads the SDK). */
export async function openAzureStore(loc: RemoteLocation, opts: RemoteOptions): Promise<BlobStore> {
  const sdk = await import('@azure/storage-blob');
  const env = opts.env;
  const pipeline: StoragePipelineOptions = {
    retryOptions: { maxTries: 1, ...(opts.requestTimeoutMs === undefined ? {} : { tryTimeoutInMs: opts.requestTimeoutMs }) },
  };
  const account = nonEmpty(env.AZURE_STORAGE_ACCOUNT) ?? (opts.endpoint === undefined ? undefined : accountFromEndpoint(opts.endpoint));
  const connectionString = nonEmpty(env.AZURE_STORAGE_CONNECTION_STRING);
  const key = nonEmpty(env.AZURE_STORAGE_KEY);
  const sas = nonEmpty(env.AZURE_STORAGE_SAS_TOKEN)?.replace(/^\?/, '');
  let service: BlobServiceClient;
  let endpoint = nonEmpty(opts.endpoint) ?? (account === undefined ? undefined : `https://${account}.blob.core.windows.net`);
  try {
    if (connectionString !== undefined && opts.endpoint === undefined) {
      service = sdk.BlobServiceClient.fromConnectionString(connectionString, pipeline);
      endpoint = service.url;
    } else if (endpoint === undefined) {
      throw new BlobStoreError(
        'permanent',
        `${describeLocation(loc)}: no Azure account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT (+ AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN), or --remote-endpoint`,
      );
    } else if (connectionString !== undefined) {
      const parsed = parseConnectionString(connectionString);
      const name = parsed.AccountName ?? account;
      if (name !== undefined && parsed.AccountKey !== undefined) {
        service = new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(name, parsed.AccountKey), pipeline);
      } else {
        const sig = parsed.SharedAccessSignature;
        service = new sdk.BlobServiceClient(sig === undefined ? endpoint : withQuery(endpoint, sig), new sdk.AnonymousCredential(), pipeline);
      }
    } else if (account !== undefined && key !== undefined) {
      service = new sdk.BlobServiceClient(endpoint, new sdk.StorageSharedKeyCredential(account, key), pipeline);
    } else {
      service = new sdk.BlobServiceClient(sas === undefined ? endpoint : withQuery(endpoint, sas), new sdk.AnonymousCredential(), pipeline);
    }
  } catch (e: unknown) {
    throw classifyError(e, `${describeLocation(loc)}: Azure configuration`);
  }
  const where = `${describeLocation(loc)} (endpoint ${describeEndpoint(endpoint)})`;
  return new AzureBlobStore(service.getContainerClient(loc.bucket), loc, where, storeTuning(opts, 5000));
}

class AzureBlobStore implements BlobStore {
  readonly description: string;
  readonly #container: ContainerClient;
  readonly #prefix: string;
  readonly #pageSize: number;
  readonly #idleMs: number;

  constructor(container: ContainerClient, loc: RemoteLocation, description: string, tuning: StoreTuning) {
    this.#container = container;
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
    throwIfAborted(opts?.signal);
    try {
      const p = await this.#blob(key).getProperties(signalOpt(opts));
      return { key, size: p.contentLength ?? 0 };
    } catch (e: unknown) {
      if (isMissingBlob(e)) return undefined;
      throw this.#error(e, `stat ${key}`, opts);
    }
  }

  async get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    try {
      const res = await this.#blob(key).download(0, undefined, { ...signalOpt(opts), maxRetryRequests: 0 });
      const body = res.readableStreamBody as Readable | undefined;
      if (body === undefined) throw new BlobStoreError('integrity', `${this.description}: get ${key}: answer without a body`);
      return checkedBody(body, res.contentLength, `${this.description}: get ${key}`, (e) => this.#error(e, `get ${key}`, opts), this.#idleMs);
    } catch (e: unknown) {
      if (isMissingBlob(e)) return undefined;
      throw this.#error(e, `get ${key}`, opts);
    }
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    const common = {
      ...signalOpt(opts),
      blobHTTPHeaders: { blobContentType: opts?.contentType ?? 'application/octet-stream' },
      ...(opts?.ifAbsent === true ? { conditions: { ifNoneMatch: '*' } } : {}),
    };
    try {
      if (Buffer.isBuffer(body) && body.length < SIMPLE_UPLOAD_LIMIT) {
        if (opts?.size !== undefined && opts.size !== body.length) {
          throw new BlobStoreError('integrity', `${this.description}: put ${key}: body has ${body.length} bytes, announced ${opts.size}`);
        }
        await this.#blob(key).upload(body, body.length, common);
      } else {
        const { Readable: NodeReadable } = await import('node:stream');
        const stream = Buffer.isBuffer(body) ? NodeReadable.from([body]) : body;
        await this.#blob(key).uploadStream(stream, BLOCK_SIZE, BLOCK_CONCURRENCY, common);
      }
      return 'stored';
    } catch (e: unknown) {
      // 409 BlobAlreadyExists (412 from some proxies): the key exists and nothing was written.
      if (opts?.ifAbsent === true && [409, 412].includes(httpStatus(e) ?? 0)) return 'exists';
      // A commit of another upload of this blob discards our staged, uncommitted blocks, and our
      // own commit then fails with InvalidBlockList. That other writer committed while ours was
      // in flight, so "ours, then immediately replaced by theirs" is a valid outcome: success,
      // provided the blob is really there.
      if (errorCode(e) === 'InvalidBlockList' && (await this.stat(key, opts).catch(() => undefined)) !== undefined) return 'stored';
      throw this.#error(e, `put ${key}`, opts, 'no-bucket');
    }
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    const pages = this.#container.listBlobsFlat({ prefix: this.#prefix + prefix, ...signalOpt(opts) }).byPage({ maxPageSize: this.#pageSize });
    try {
      for await (const page of pages) {
        for (const item of page.segment.blobItems) {
          if (!item.name.startsWith(this.#prefix)) continue;
          yield { key: item.name.slice(this.#prefix.length), size: item.properties.contentLength ?? 0 };
        }
      }
    } catch (e: unknown) {
      throw this.#error(e, `list ${prefix}`, opts, 'no-bucket');
    }
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    try {
      await this.#blob(key).deleteIfExists(signalOpt(opts));
    } catch (e: unknown) {
      throw this.#error(e, `delete ${key}`, opts);
    }
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    try {
      await this.#container.createIfNotExists(signalOpt(opts));
    } catch (e: unknown) {
      throw this.#error(e, 'create container', opts);
    }
  }

  async close(): Promise<void> {
    // The SDK's HTTP client keeps only idle keep-alive sockets, which do not hold the process.
  }

  #blob(key: string): ReturnType<ContainerClient['getBlockBlobClient']> {
    return this.#container.getBlockBlobClient(this.#prefix + key);
  }

  #error(e: unknown, op: string, opts: RequestOptions | undefined, notFound: NotFoundMeaning = 'permanent'): BlobStoreError {
    if (opts?.signal?.aborted === true && !(e instanceof BlobStoreError)) return abortError(opts.signal, `${this.description}: ${op}`);
    return classifyError(e, `${this.description}: ${op}`, notFound);
  }
}

function signalOpt(opts: RequestOptions | undefined): { abortSignal?: AbortSignal } {
  return opts?.signal === undefined ? {} : { abortSignal: opts.signal };
}

/** A 404 for the blob itself (a missing container is a different error code). */
function isMissingBlob(e: unknown): boolean {
  const k = errorKind(e);
  return k.status === 404 && k.kind !== 'no-bucket';
}

/** `http://host:port/devstoreaccount1` → `devstoreaccount1` (emulator-style endpoints name the account in the path). */
function accountFromEndpoint(endpoint: string): string | undefined {
  try {
    const u = new URL(endpoint);
    const seg = u.pathname.split('/').filter((s) => s !== '');
    if (seg.length === 1) return seg[0];
    const host = /^([a-z0-9]+)\.blob\./.exec(u.hostname);
    return host?.[1];
  } catch {
    return undefined;
  }
}

function parseConnectionString(cs: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

function withQuery(url: string, query: string): string {
  return url + (url.includes('?') ? '&' : '?') + query;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function errorCode(e: unknown): string | undefined {
  const o = e as { code?: unknown; details?: { errorCode?: unknown } } | null;
  const c = o?.details?.errorCode ?? o?.code;
  return typeof c === 'string' ? c : undefined;
}
