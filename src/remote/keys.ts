/**
 * Blob keys and prefixes: `/`-separated relative names (`cas/ab12…`, `ac/<key>.json`). Every
 * adapter checks keys here, so a key can never name something outside the store's prefix (a
 * `..` segment in a directory store would otherwise escape its root).
 */
import { BlobStoreError } from './blob-store.js';

/** Throws a `permanent` {@link BlobStoreError} unless `key` is a safe relative blob key. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new BlobStoreError('permanent', `invalid blob key ${JSON.stringify(key)}: ${problem}`);
}

/** Why `key` is not a valid blob key, or undefined when it is. */
export function keyProblem(key: string): string | undefined {
  if (key === '') return 'empty';
  if (key.length > 1024) return 'longer than 1024 characters';
  if (key.startsWith('/')) return 'starts with "/"';
  if (key.endsWith('/')) return 'ends with "/"';
  if (/[\\\0\r\n]/.test(key)) return 'contains a backslash, NUL or line break';
  for (const seg of key.split('/')) {
    if (seg === '') return 'has an empty path segment';
    if (seg === '.' || seg === '..') return `has a "${seg}" segment`;
  }
  return undefined;
}

/**
 * Normalises a URL path into a store prefix: no leading/trailing slashes, `''` for none,
 * otherwise ending in `/` so that it can be prepended to keys. Throws on `.`/`..` segments.
 */
export function normalisePrefix(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const problem = keyProblem(trimmed);
  if (problem !== undefined) throw new BlobStoreError('permanent', `invalid remote prefix ${JSON.stringify(path)}: ${problem}`);
  return `${trimmed}/`;
}
