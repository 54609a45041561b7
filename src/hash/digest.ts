/**
 * Hashes are branded strings so one kind can never be passed where another is meant.
 * All are lowercase hex SHA-256 (64 characters).
 */
export type FileDigest = string & { readonly __brand: 'FileDigest' };
export type TaskKey = string & { readonly __brand: 'TaskKey' };
export type ResultHash = string & { readonly __brand: 'ResultHash' };

const HEX64 = /^[0-9a-f]{64}$/;

/** True for a well-formed SHA-256 hex digest; used before a digest becomes a path. */
export function isHexDigest(s: string): boolean {
  return HEX64.test(s);
}
