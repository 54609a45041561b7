/**
 * The one interface every remote (and the backup destinations) is used through: opaque keys
 * (`cas/<digest>`, `ac/<task key>.json`, `backups/<name>.tar.zst`, ...; `/`-separated, relative to
 * the store's prefix) mapped to byte streams. Adapters: S3 (`s3.ts`), GCS (`gcs.ts`), Azure Blob
 * (`azure.ts`), a local directory (`dir-store.ts`), and an in-memory store with fault injection
 * for tests (`memory-store.ts`). The SDKs are loaded by dynamic import inside the adapters, so a
 * local-only run never loads them.
 *
 * Errors: adapters throw {@link BlobStoreError} and nothing else, classified so callers can decide
 * (retry transient, report auth once, treat not-found as a miss). A missing key is not an error
 * for `get`/`has`/`stat` (they return undefined/false).
 */
import type { Readable } from 'node:stream';

export type BlobStoreErrorKind =
  /** 5xx, 429, connection reset/refused, timeouts: worth retrying, counts toward the breaker. */
  | 'transient'
  /** 401/403, bad credentials: reported once as an auth error, never retried. */
  | 'auth'
  /** The bucket/container does not exist. */
  | 'no-bucket'
  /** A body that does not match what the server said (length), or a malformed answer. */
  | 'integrity'
  /** Anything else (4xx the client caused, bugs in the configuration). */
  | 'permanent';

export class BlobStoreError extends Error {
  override readonly name = 'BlobStoreError';
  constructor(
    readonly kind: BlobStoreErrorKind,
    message: string,
    /** HTTP status when there was one. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface BlobInfo {
  readonly key: string;
  readonly size: number;
}

export interface PutOptions {
  /** Total size when known (lets adapters choose single-shot vs multipart). */
  readonly size?: number;
  readonly contentType?: string;
  /**
   * Create only: when the key already exists nothing is written and the put answers `exists`.
   * The check and the write are one atomic request where the server supports it (S3's
   * `If-None-Match: *`, GCS's `ifGenerationMatch=0`, Azure's `If-None-Match: *`, an exclusive
   * link in a directory). Emulators that ignore the condition (s3rver) overwrite, so callers
   * that must never replace keep their own check before the put where a race matters.
   */
  readonly ifAbsent?: boolean;
}

/** What a put did: wrote the blob, or (with `ifAbsent`) found the key already there. */
export type PutOutcome = 'stored' | 'exists';

export interface RequestOptions {
  /** Aborts the request (timeouts, cancelled runs). */
  readonly signal?: AbortSignal;
}

export interface BlobStore {
  /** Human description without credentials, e.g. `s3://bucket/prefix (endpoint http://127.0.0.1:9000)`. */
  readonly description: string;
  has(key: string, opts?: RequestOptions): Promise<boolean>;
  /** Size of the blob, or undefined when it does not exist. */
  stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined>;
  /** The blob's bytes as a stream, or undefined when it does not exist. */
  get(key: string, opts?: RequestOptions): Promise<Readable | undefined>;
  /** Writes the blob (replacing any existing one unless `ifAbsent`). The body is a Buffer or a stream. */
  put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome>;
  /** Every blob whose key starts with `prefix`, in any order. */
  list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo>;
  /** Deletes the blob; a missing key is not an error. */
  delete(key: string, opts?: RequestOptions): Promise<void>;
  /** Creates the bucket/container when it does not exist (`cache init-remote`). */
  ensureBucket(opts?: RequestOptions): Promise<void>;
  /** Releases sockets/agents. */
  close(): Promise<void>;
}
