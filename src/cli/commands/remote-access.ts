/**
 * Opening the configured remote (and backup destinations) for the maintenance commands.
 * A plain path or file:// URL is a local directory store; s3://, gs:// and azblob:// go
 * through the remote adapters.
 */
import path from 'node:path';
import type { Config } from '../../config/schema.js';
import type { BlobStore } from '../../remote/blob-store.js';
import { DirBlobStore } from '../../remote/dir-store.js';

const REMOTE_URL = /^(s3|gs|azblob):\/\//;

/**
 * The blob store for a destination: a directory path or a remote URL. `create`: make a missing
 * directory (backup destinations); health checks pass false, so a missing one is reported.
 */
export async function openDestination(location: string, config: Config, env: NodeJS.ProcessEnv, cwd: string, create = true): Promise<BlobStore> {
  if (!REMOTE_URL.test(location)) {
    const dir = location.startsWith('file://') ? new URL(location).pathname : path.resolve(cwd, location);
    const store = new DirBlobStore(dir);
    if (create) await store.ensureBucket();
    return store;
  }
  // Loaded only for a remote URL: the cloud SDKs stay out of local-only commands.
  const { openBlobStore } = await import('../../remote/open-store.js');
  return openBlobStore(location, {
    ...(config.remote.endpoint ? { endpoint: config.remote.endpoint } : {}),
    ...(config.remote.region ? { region: config.remote.region } : {}),
    // As for the remote cache: a custom endpoint (MinIO, Ceph, an emulator) implies path-style.
    pathStyle: config.remote.path_style || config.remote.endpoint !== '',
    connectTimeoutMs: Number(config.remote.connect_timeout_seconds) * 1000,
    requestTimeoutMs: Number(config.remote.request_timeout_seconds) * 1000,
    env,
  });
}

/** The configured remote cache, or undefined when none is configured (or mode = off). */
export async function openConfiguredRemote(config: Config, env: NodeJS.ProcessEnv, cwd: string): Promise<BlobStore | undefined> {
  if (config.remote.url === '' || config.remote.mode === 'off') return undefined;
  return openDestination(config.remote.url, config, env, cwd, false);
}
