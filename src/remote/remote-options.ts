/**
 * Options shared by every remote adapter (the `[remote]` config section and its flags, after the
 * CLI has resolved them), plus the parsed form of a remote URL.
 */

/** How to reach a remote; see `openBlobStore`. */
export interface RemoteOptions {
  /** Custom endpoint (MinIO, R2, Ceph, azurite, a GCS fake); else the SDK's default or its env variable. */
  readonly endpoint?: string;
  /** S3 region; else the SDK chain (AWS_REGION, profile), else us-east-1. */
  readonly region?: string;
  /** S3 path-style addressing; default true for an IP/localhost endpoint, else false. */
  readonly pathStyle?: boolean;
  /** Time to establish a connection (passed to the SDK's HTTP agent). */
  readonly connectTimeoutMs?: number;
  /** Time for one request (passed to the SDK's HTTP agent as the socket timeout). */
  readonly requestTimeoutMs?: number;
  /** The environment the credentials and the SDKs' standard variables are read from. */
  readonly env: NodeJS.ProcessEnv;
  /** Page size of `list` calls (default: the provider's maximum, 1000 or 5000). */
  readonly listPageSize?: number;
}

/** A remote URL split into its parts (never holds credentials: those come from the SDK chains). */
export interface RemoteLocation {
  readonly scheme: 's3' | 'gs' | 'azblob';
  /** Bucket (S3, GCS) or container (Azure). */
  readonly bucket: string;
  /** Key prefix inside the bucket: `''` or ending in `/`. */
  readonly prefix: string;
}

/** `s3://bucket/prefix` without a trailing slash, for descriptions and messages. */
export function describeLocation(loc: RemoteLocation): string {
  return `${loc.scheme}://${loc.bucket}${loc.prefix === '' ? '' : `/${loc.prefix.slice(0, -1)}`}`;
}

/**
 * An endpoint URL fit for messages: scheme, host, port and path only (user info and query
 * strings, where SAS tokens and passwords live, are dropped).
 */
export function describeEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(invalid endpoint URL)';
  }
}

/** Per-store knobs the adapters derive from {@link RemoteOptions}. */
export interface StoreTuning {
  /** Page size of list requests. */
  readonly pageSize: number;
  /** A download body that delivers nothing for this long while the reader waits is an error. */
  readonly idleMs: number;
}

/** {@link StoreTuning} from the options, with the provider's page size as default. */
export function storeTuning(opts: RemoteOptions, defaultPageSize: number): StoreTuning {
  // The stall limit follows the connect timeout: both mean "the other side went silent".
  return { pageSize: opts.listPageSize ?? defaultPageSize, idleMs: Math.max(1000, opts.connectTimeoutMs ?? 10_000) };
}
