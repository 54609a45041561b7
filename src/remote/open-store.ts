/**
 * One entry point from a remote URL to a {@link BlobStore}: `s3://bucket/prefix`,
 * `gs://bucket/prefix`, `azblob://container/prefix`, `file:///abs/dir` or a plain directory path.
 * Each SDK is imported only when its scheme is used. URLs never carry credentials (those come
 * from each SDK's standard chain); one that does is refused, so that a secret typed into a URL
 * cannot end up in a description, a log or an error.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobStoreError, type BlobStore } from './blob-store.js';
import { DirBlobStore } from './dir-store.js';
import { normalisePrefix } from './keys.js';
import type { RemoteLocation, RemoteOptions } from './remote-options.js';

export type { RemoteOptions } from './remote-options.js';

const SCHEMES = ['s3', 'gs', 'azblob'] as const;

/** A parsed remote URL: a cloud bucket location, or a local directory. */
export type ParsedRemote = ({ readonly kind: 'cloud' } & RemoteLocation) | { readonly kind: 'dir'; readonly path: string };

/**
 * Parses a remote URL; throws a `permanent` {@link BlobStoreError} with a one-line message
 * (unknown scheme, missing bucket, credentials in the URL). Relative directory paths are
 * resolved against `cwd`.
 */
export function parseRemoteUrl(url: string, cwd = process.cwd()): ParsedRemote {
  const text = url.trim();
  if (text === '') throw new BlobStoreError('permanent', 'remote URL is empty; use s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix or a directory');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'dir', path: isAbsolute(text) ? text : resolve(cwd, text) };
  if (scheme === 'file') {
    try {
      return { kind: 'dir', path: fileURLToPath(text) };
    } catch {
      throw new BlobStoreError('permanent', 'remote file URL must be absolute and local, like file:///srv/cache');
    }
  }
  if (!(SCHEMES as readonly string[]).includes(scheme)) {
    throw new BlobStoreError('permanent', `unknown remote scheme "${scheme}://"; use s3://, gs://, azblob://, file:// or a directory path`);
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new BlobStoreError('permanent', `remote URL is malformed; expected ${scheme}://bucket/prefix`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new BlobStoreError('permanent', `remote URL must not contain credentials (${scheme}://user:…@); they come from the SDK's environment variables or profile`);
  }
  if (u.search !== '' || u.hash !== '') {
    throw new BlobStoreError('permanent', `remote URL must not have a query or fragment; expected ${scheme}://bucket/prefix`);
  }
  const bucket = u.hostname;
  if (bucket === '') throw new BlobStoreError('permanent', `remote URL names no ${scheme === 'azblob' ? 'container' : 'bucket'}; expected ${scheme}://${scheme === 'azblob' ? 'container' : 'bucket'}/prefix`);
  if (u.port !== '') throw new BlobStoreError('permanent', `remote URL has a port; put the endpoint in --remote-endpoint and use ${scheme}://bucket/prefix`);
  return { kind: 'cloud', scheme: scheme as RemoteLocation['scheme'], bucket, prefix: normalisePrefix(decodeURIComponent(u.pathname)) };
}

/**
 * Opens the store a remote URL names (see the module comment). Loads only the SDK it needs.
 * Throws a `permanent` {@link BlobStoreError} for a bad URL or configuration.
 */
export async function openBlobStore(url: string, opts: RemoteOptions): Promise<BlobStore> {
  const parsed = parseRemoteUrl(url);
  if (parsed.kind === 'dir') return new DirBlobStore(parsed.path);
  switch (parsed.scheme) {
    case 's3':
      return (await import('./s3.js')).openS3Store(parsed, opts);
    case 'gs':
      return (await import('./gcs.js')).openGcsStore(parsed, opts);
    case 'azblob':
      return (await import('./azure.js')).openAzureStore(parsed, opts);
  }
}
