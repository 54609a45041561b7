/**
 * The one way to open a remote for any command: the remote cache of a run, `cache push/pull`,
 * `cache stats/verify --remote`, `health`, backups to a bucket, and the server's health check.
 * Every store it returns is wrapped in {@link ResilientBlobStore}, so the `[remote]` timeouts
 * and retries apply to maintenance work exactly as they apply to builds; the connection
 * settings (endpoint, region, path style, timeouts, retries) come from one place,
 * {@link remoteConnection}.
 *
 * Lives in `ops/` rather than `cli/` because the server opens the configured remote too.
 */
import type { LoadedConfig } from '../config/load.js';
import type { BlobStore } from '../remote/blob-store.js';

/** How to reach a remote: everything but its URL. */
export interface RemoteConnection {
  readonly endpoint?: string;
  readonly region?: string;
  readonly pathStyle: boolean;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
}

/**
 * The endpoint the S3 client uses when none is configured: AWS_ENDPOINT_URL_S3, else
 * AWS_ENDPOINT_URL (the SDK's standard variables), or undefined.
 */
export function s3EndpointFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const pick = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());
  return pick(env.AWS_ENDPOINT_URL_S3) ?? pick(env.AWS_ENDPOINT_URL);
}

/**
 * The `[remote]` connection settings (the loader has applied `REPROVM_REMOTE_*` overrides), with
 * `--remote-endpoint` over the configured endpoint. Path-style addressing defaults to on when an
 * endpoint is given (what MinIO, Ceph, R2 and emulators need), including one the S3 SDK takes
 * from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL in `env`; `path_style` set anywhere wins.
 */
export function remoteConnection(loaded: LoadedConfig, endpointFlag?: string, env: NodeJS.ProcessEnv = {}): RemoteConnection {
  const c = loaded.config.remote;
  const endpoint = endpointFlag ?? (c.endpoint === '' ? undefined : c.endpoint);
  const effective = endpoint ?? s3EndpointFromEnv(env);
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(c.region === '' ? {} : { region: c.region }),
    pathStyle: loaded.sourceOf('remote', 'path_style').kind === 'default' ? effective !== undefined : c.path_style,
    connectTimeoutMs: c.connect_timeout_seconds * 1000,
    requestTimeoutMs: c.request_timeout_seconds * 1000,
    retries: c.retries,
  };
}

/** A remote URL that cannot be used (malformed, unknown scheme, credentials in it); the message holds no secret. */
export class RemoteOpenError extends Error {
  override readonly name = 'RemoteOpenError';
}

/** Options of {@link openRemote}. */
export interface OpenRemoteOptions {
  /** Where credentials and the SDKs' standard variables come from. */
  readonly env: NodeJS.ProcessEnv;
  /** Relative directory paths are resolved against this (default: the process's directory). */
  readonly cwd?: string;
  /** What the URL is, for messages: "the remote cache" (default), "the backup location". */
  readonly what?: string;
  /** Told about every failed attempt that will be retried (the run's breaker counts them). */
  readonly onRetry?: (error: Error) => void;
  /**
   * Open the real store (and load its SDK) on first use rather than now: a run whose tasks are
   * all up to date never asks the remote and should not pay for it.
   */
  readonly lazy?: boolean;
  /**
   * Whole archives move in one request (backups): no deadline on a whole transfer, only on the
   * first answer and on a silent connection (the adapters' socket timeout).
   */
  readonly longTransfers?: boolean;
  /** Create a missing directory store (backup destinations); remotes are created by `cache init-remote`. */
  readonly createDir?: boolean;
}

/** The largest delay a Node timer accepts (about 24.8 days): "no deadline" for a whole transfer. */
const NO_DEADLINE_MS = 2 ** 31 - 1;

/**
 * Opens the store `url` names (s3://, gs://, azblob://, file:// or a directory) with timeouts
 * and retries. Throws {@link RemoteOpenError} for a URL that cannot be used.
 */
export async function openRemote(url: string, conn: RemoteConnection, opts: OpenRemoteOptions): Promise<BlobStore> {
  // Loaded now, not at start-up: commands without a remote never load the adapters.
  const [{ openBlobStore, parseRemoteUrl }, { describeEndpoint, describeLocation }, { LazyBlobStore }, { ResilientBlobStore }] = await Promise.all([
    import('../remote/open-store.js'),
    import('../remote/remote-options.js'),
    import('../cache/lazy-remote.js'),
    import('../remote/resilient-store.js'),
  ]);
  let parsed: ReturnType<typeof parseRemoteUrl>;
  try {
    parsed = parseRemoteUrl(url, opts.cwd);
  } catch (e: unknown) {
    const { redactUrl } = await import('../config/redact.js');
    const why = e instanceof Error ? e.message : String(e);
    throw new RemoteOpenError(`cannot use ${opts.what ?? 'the remote cache'} ${redactUrl(url)}: ${why}`);
  }
  const open = async (): Promise<BlobStore> => {
    const inner = await openBlobStore(parsed.kind === 'dir' ? parsed.path : url, {
      ...(conn.endpoint === undefined ? {} : { endpoint: conn.endpoint }),
      ...(conn.region === undefined ? {} : { region: conn.region }),
      pathStyle: conn.pathStyle,
      connectTimeoutMs: conn.connectTimeoutMs,
      requestTimeoutMs: conn.requestTimeoutMs,
      env: opts.env,
    });
    // Timeouts and retries of transient errors; a run's breaker and warnings live above (tiered-cache.ts).
    const store = new ResilientBlobStore(inner, {
      retries: conn.retries,
      connectTimeoutMs: conn.connectTimeoutMs,
      requestTimeoutMs: opts.longTransfers === true ? NO_DEADLINE_MS : conn.requestTimeoutMs,
      ...(opts.onRetry === undefined ? {} : { onRetry: (info: { readonly error: Error }) => opts.onRetry?.(info.error) }),
    });
    if (parsed.kind === 'dir' && opts.createDir === true) await store.ensureBucket();
    return store;
  };
  if (opts.lazy !== true) return open();
  // The same endpoint the adapter will use, so the description names it before the SDK loads.
  const endpoint = parsed.kind === 'cloud' && parsed.scheme === 's3' ? (conn.endpoint ?? s3EndpointFromEnv(opts.env)) : conn.endpoint;
  const description =
    parsed.kind === 'dir' ? `dir ${parsed.path}` : describeLocation(parsed) + (endpoint === undefined ? '' : ` (endpoint ${describeEndpoint(endpoint)})`);
  return new LazyBlobStore(description, open);
}

/** The configured remote cache (`[remote] url`, `REPROVM_REMOTE`), or undefined when none is set or mode = off. */
export async function openConfiguredRemote(loaded: LoadedConfig, env: NodeJS.ProcessEnv, cwd: string): Promise<BlobStore | undefined> {
  const { url, mode } = loaded.config.remote;
  if (url === '' || mode === 'off') return undefined;
  return openRemote(url, remoteConnection(loaded, undefined, env), { env, cwd });
}

/**
 * The configured remote for a health check, opened once: the store, or why it cannot be opened
 * (`checkHealth` reports that as critical). Nothing when no remote is configured.
 */
export async function remoteForHealth(loaded: LoadedConfig, env: NodeJS.ProcessEnv, cwd: string): Promise<{ remote?: BlobStore; remoteError?: string }> {
  try {
    const remote = await openConfiguredRemote(loaded, env, cwd);
    return remote === undefined ? {} : { remote };
  } catch (e: unknown) {
    return { remoteError: e instanceof Error ? e.message : String(e) };
  }
}

/** A backup location that is a directory which does not exist (list/verify/restore/prune): a usage error. */
export class MissingLocationError extends RemoteOpenError {}

/**
 * A backup destination: a directory or a bucket URL, reached with the `[remote]` connection
 * settings. A missing directory is created only with `create` (`backup create`); for reading
 * it is a {@link MissingLocationError}, so a mistyped `--from` is not reported as "no backups".
 */
export async function openDestination(
  location: string,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv,
  cwd: string,
  opts: { readonly create: boolean } = { create: true },
): Promise<BlobStore> {
  if (!opts.create) {
    const [{ parseRemoteUrl }, { existsSync }] = await Promise.all([import('../remote/open-store.js'), import('node:fs')]);
    let parsed: ReturnType<typeof parseRemoteUrl> | undefined;
    try {
      parsed = parseRemoteUrl(location, cwd);
    } catch {
      parsed = undefined; // openRemote below reports the bad URL
    }
    if (parsed?.kind === 'dir' && !existsSync(parsed.path)) {
      throw new MissingLocationError(`backup location ${parsed.path} does not exist: check --from or [backup] location`);
    }
  }
  return openRemote(location, remoteConnection(loaded, undefined, env), {
    env,
    cwd,
    what: 'the backup location',
    longTransfers: true,
    createDir: opts.create,
  });
}
