/**
 * S3 (and S3-compatible: MinIO, R2, Ceph, s3rver) as a {@link BlobStore}, on @aws-sdk/client-s3
 * loaded by dynamic import. Large or unsized bodies go through @aws-sdk/lib-storage's multipart
 * `Upload`; everything else is one PutObject.
 *
 * Credentials come only from the SDK's standard chain (AWS_ACCESS_KEY_ID/... in the given env,
 * then profiles, web identity, instance metadata), never from the URL. The endpoint is
 * `--remote-endpoint`, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL. Checksums are computed
 * only when an operation requires them: with the SDK default a streamed PutObject is sent with
 * aws-chunked framing, which some S3-compatible servers store as part of the object.
 * The SDK's own retries are off (one attempt): the resilient wrapper retries.
 *
 * The client caches its resolved middleware chain per command class (`cacheMiddleware`): resolving
 * it costs ~0.15 ms of CPU per request, a tenth of a small GET's client-side work. The SDK caches
 * only calls made without per-call options, so a request's abort signal does not travel as
 * `send(command, { abortSignal })` but rides on the command's input under a symbol (never
 * serialized) and is handed to the HTTP handler by the last middleware (see {@link routeSignals}).
 *
 * Note: the SDK prints a NodeVersionSupportWarning on Node < 22 unless the process environment
 * has AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true; the CLI sets it at start-up.
 */
import type { Readable } from 'node:stream';
import type { BucketLocationConstraint, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { BlobStoreError, type BlobInfo, type BlobStore, type PutOptions, type PutOutcome, type RequestOptions } from './blob-store.js';
import { throwIfAborted } from './abort.js';
import { checkedBody } from './checked-body.js';
import { classifyError, errorKind, httpStatus, type NotFoundMeaning } from './classify-error.js';
import { assertValidKey } from './keys.js';
import { describeEndpoint, describeLocation, storeTuning, type RemoteLocation, type RemoteOptions, type StoreTuning } from './remote-options.js';

type S3Sdk = typeof import('./s3-sdk.js');

/** Bodies at least this large (or of unknown size) are uploaded in parts. */
const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PART_QUEUE = 4;

/** Opens an S3 store for `loc` (loads the SDK). */
export async function openS3Store(loc: RemoteLocation, opts: RemoteOptions): Promise<BlobStore> {
  const sdk = await import('./s3-sdk.js');
  const endpoint = nonEmpty(opts.endpoint) ?? nonEmpty(opts.env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(opts.env.AWS_ENDPOINT_URL);
  const region = nonEmpty(opts.region) ?? nonEmpty(opts.env.AWS_REGION) ?? nonEmpty(opts.env.AWS_DEFAULT_REGION);
  const config: S3ClientConfig = {
    forcePathStyle: opts.pathStyle ?? (endpoint !== undefined && isLocalHost(endpoint)),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    cacheMiddleware: true,
    requestHandler: {
      ...(opts.connectTimeoutMs === undefined ? {} : { connectionTimeout: opts.connectTimeoutMs }),
      // An idle-socket limit, not smithy's `requestTimeout`: that one only prints a console
      // warning when exceeded. The whole-request bound is the resilient wrapper's abort signal.
      ...(opts.requestTimeoutMs === undefined ? {} : { socketTimeout: opts.requestTimeoutMs }),
    },
    ...(endpoint === undefined ? {} : { endpoint }),
    ...credentialsFromEnv(opts.env),
  };
  let client = new sdk.S3Client(region === undefined ? config : { ...config, region });
  if (region === undefined) {
    // No explicit region: let the SDK's chain (profile files) decide, else default to us-east-1
    // rather than failing every call with "Region is missing".
    try {
      await client.config.region();
    } catch {
      client.destroy();
      client = new sdk.S3Client({ ...config, region: 'us-east-1' });
    }
  }
  routeSignals(client);
  const where = describeLocation(loc) + (endpoint === undefined ? '' : ` (endpoint ${describeEndpoint(endpoint)})`);
  return new S3BlobStore(sdk, client, loc, where, storeTuning(opts, 1000));
}

class S3BlobStore implements BlobStore {
  readonly description: string;
  readonly #sdk: S3Sdk;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #pageSize: number;
  readonly #idleMs: number;
  /** Set once the bucket was seen to exist, so a 404 on HEAD of an object needs no second look. */
  #bucketSeen = false;

  constructor(sdk: S3Sdk, client: S3Client, loc: RemoteLocation, description: string, tuning: StoreTuning) {
    this.#sdk = sdk;
    this.#client = client;
    this.#bucket = loc.bucket;
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
      const out = await this.#client.send(new this.#sdk.HeadObjectCommand(withSignal({ Bucket: this.#bucket, Key: this.#prefix + key }, opts)));
      this.#bucketSeen = true;
      return { key, size: out.ContentLength ?? 0 };
    } catch (e: unknown) {
      // HEAD answers carry no error code: a 404 is either the object or the bucket.
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
    try {
      const out = await this.#client.send(new this.#sdk.GetObjectCommand(withSignal({ Bucket: this.#bucket, Key: this.#prefix + key }, opts)));
      this.#bucketSeen = true;
      const body = out.Body as Readable | undefined;
      if (body === undefined) throw new BlobStoreError('integrity', `${this.description}: get ${key}: answer without a body`);
      return checkedBody(body, out.ContentLength, `${this.description}: get ${key}`, (e) => this.#error(e, `get ${key}`), this.#idleMs);
    } catch (e: unknown) {
      if (errorKind(e).kind !== 'no-bucket' && isNotFound(e)) return undefined;
      throw this.#error(e, `get ${key}`);
    }
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    const params = {
      Bucket: this.#bucket,
      Key: this.#prefix + key,
      ContentType: opts?.contentType ?? 'application/octet-stream',
    };
    try {
      if (Buffer.isBuffer(body) && body.length < MULTIPART_THRESHOLD) {
        if (opts?.size !== undefined && opts.size !== body.length) {
          throw new BlobStoreError('integrity', `${this.description}: put ${key}: body has ${body.length} bytes, announced ${opts.size}`);
        }
        const condition = opts?.ifAbsent === true ? { IfNoneMatch: '*' } : {};
        await this.#client.send(new this.#sdk.PutObjectCommand(withSignal({ ...params, ...condition, Body: body, ContentLength: body.length }, opts)));
      } else {
        // Create-only puts are for records, which are small; a large body is never conditional.
        await this.#multipart(params, body, opts?.signal);
      }
      this.#bucketSeen = true;
      return 'stored';
    } catch (e: unknown) {
      // 412: the key exists; 409: a concurrent conditional write of the same key won.
      if (opts?.ifAbsent === true && [412, 409].includes(httpStatus(e) ?? 0)) return 'exists';
      throw this.#error(e, `put ${key}`, 'no-bucket');
    }
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      throwIfAborted(opts?.signal);
      let page;
      try {
        page = await this.#client.send(
          new this.#sdk.ListObjectsV2Command(withSignal({
            Bucket: this.#bucket,
            Prefix: this.#prefix + prefix,
            MaxKeys: this.#pageSize,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }, opts)),
        );
      } catch (e: unknown) {
        throw this.#error(e, `list ${prefix}`, 'no-bucket');
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.#prefix)) continue;
        yield { key: o.Key.slice(this.#prefix.length), size: o.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    try {
      await this.#client.send(new this.#sdk.DeleteObjectCommand(withSignal({ Bucket: this.#bucket, Key: this.#prefix + key }, opts)));
    } catch (e: unknown) {
      if (errorKind(e).kind !== 'no-bucket' && isNotFound(e)) return;
      throw this.#error(e, `delete ${key}`, 'no-bucket');
    }
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    if (await this.#bucketExists(opts)) return;
    try {
      const region = await this.#client.config.region();
      await this.#client.send(
        new this.#sdk.CreateBucketCommand(withSignal({
          Bucket: this.#bucket,
          // us-east-1 is the one region that must not be named as a location constraint.
          ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
        }, opts)),
      );
    } catch (e: unknown) {
      const code = (e as { name?: unknown }).name;
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw this.#error(e, 'create bucket');
    }
    this.#bucketSeen = true;
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  async #multipart(params: { Bucket: string; Key: string; ContentType: string }, body: Buffer | Readable, signal: AbortSignal | undefined): Promise<void> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({ client: this.#client, params: { ...params, Body: body }, partSize: PART_SIZE, queueSize: PART_QUEUE, leavePartsOnError: false });
    const onAbort = (): void => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (e: unknown) {
      if (signal?.aborted === true) throwIfAborted(signal);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #bucketExists(opts: RequestOptions | undefined): Promise<boolean> {
    try {
      await this.#client.send(new this.#sdk.HeadBucketCommand(withSignal({ Bucket: this.#bucket }, opts)));
      return true;
    } catch (e: unknown) {
      if (isNotFound(e)) return false;
      throw this.#error(e, 'head bucket');
    }
  }

  async #requireBucket(opts: RequestOptions | undefined): Promise<void> {
    if (this.#bucketSeen) return;
    if (!(await this.#bucketExists(opts))) {
      throw new BlobStoreError('no-bucket', `${this.description}: bucket "${this.#bucket}" does not exist; create it or run \`reprovm cache init-remote\``, 404);
    }
    this.#bucketSeen = true;
  }

  #error(e: unknown, op: string, notFound: NotFoundMeaning = 'permanent'): BlobStoreError {
    return classifyError(e, `${this.description}: ${op}`, notFound);
  }
}

/** Where a command's input carries its request's abort signal (see the module comment). */
const SIGNAL = Symbol('reprovm.abortSignal');

/** `input` with `opts.signal` attached for {@link routeSignals}. */
function withSignal<T extends object>(input: T, opts: RequestOptions | undefined): T {
  if (opts?.signal !== undefined) Object.defineProperty(input, SIGNAL, { value: opts.signal, enumerable: true });
  return input;
}

/**
 * Makes every request of `client` abortable by the signal its command's input carries: the
 * innermost middleware (after signing, which copies the request) files the signal under the
 * final request object, and the HTTP handler, wrapped once here, passes it on. With cached
 * middleware this is the only per-request way in: a `send` with options would drop the cache.
 */
function routeSignals(client: S3Client): void {
  const signals = new WeakMap<object, AbortSignal>();
  client.middlewareStack.add(
    (next) => async (args) => {
      const signal = (args.input as Record<symbol, unknown>)[SIGNAL];
      if (signal instanceof AbortSignal && typeof args.request === 'object' && args.request !== null) signals.set(args.request, signal);
      return next(args);
    },
    { step: 'deserialize', priority: 'low', name: 'reprovmRequestSignal' },
  );
  const handler = client.config.requestHandler;
  const handle = handler.handle.bind(handler);
  handler.handle = (request, options) => {
    const signal = signals.get(request);
    return handle(request, signal === undefined ? options : { ...options, abortSignal: signal });
  };
}

function isNotFound(e: unknown): boolean {
  const o = e as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  return o?.name === 'NotFound' || o?.name === 'NoSuchKey' || o?.$metadata?.httpStatusCode === 404;
}

/** Static credentials when the given env has them (the SDK's own env provider reads process.env). */
function credentialsFromEnv(env: NodeJS.ProcessEnv): Pick<S3ClientConfig, 'credentials'> {
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId === undefined || secretAccessKey === undefined) return {};
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  return { credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) } };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

/** Virtual-hosted addressing (`bucket.host`) cannot work for an IP address or localhost. */
function isLocalHost(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || /^[\d.]+$/.test(host) || host.startsWith('[');
  } catch {
    return false;
  }
}
