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

/** The contract of src/remote/open-store.ts, imported by name so local-only commands never load the SDKs. */
interface OpenStoreModule {
  openBlobStore(
    url: string,
    opts: { endpoint?: string; region?: string; pathStyle?: boolean; connectTimeoutMs?: number; requestTimeoutMs?: number; env: NodeJS.ProcessEnv },
  ): Promise<BlobStore>;
}
const OPEN_STORE = '../../remote/open-store.js';

/** The blob store for a destination: a directory path (created on demand) or a remote URL. */
export async function openDestination(location: string, config: Config, env: NodeJS.ProcessEnv, cwd: string): Promise<BlobStore> {
  if (!REMOTE_URL.test(location)) {
    const dir = location.startsWith('file://') ? new URL(location).pathname : path.resolve(cwd, location);
    const store = new DirBlobStore(dir);
    await store.ensureBucket();
    return store;
  }
  const { openBlobStore } = (await import(OPEN_STORE)) as OpenStoreModule;
  return openBlobStore(location, {
    ...(config.remote.endpoint ? { endpoint: config.remote.endpoint } : {}),
    ...(config.remote.region ? { region: config.remote.region } : {}),
    pathStyle: config.remote.path_style,
    connectTimeoutMs: Number(config.remote.connect_timeout_seconds) * 1000,
    requestTimeoutMs: Number(config.remote.request_timeout_seconds) * 1000,
    env,
  });
}

/** The configured remote cache, or undefined when none is configured (or mode = off). */
export async function openConfiguredRemote(config: Config, env: NodeJS.ProcessEnv, cwd: string): Promise<BlobStore | undefined> {
  if (config.remote.url === '' || config.remote.mode === 'off') return undefined;
  return openDestination(config.remote.url, config, env, cwd);
}
