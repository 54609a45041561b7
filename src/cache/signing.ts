/**
 * HMAC-SHA256 signatures of action records shared through a remote cache.
 *
 * The signature covers the canonical JSON (keys sorted, no whitespace) of the whole record:
 * the task key, the full key record, the result hash, every output (path, kind, digest, size,
 * mode, link target) and the log digests. Blobs are content-addressed, so signing their digests
 * signs their bytes. A domain prefix keeps these MACs from being valid for anything else
 * signed with the same key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson, type ActionRecord } from '../cas/action-cache.js';

const DOMAIN = 'reprovm-action-record-v1\n';
const PREFIX = 'hmac-sha256:';

/** The signature string stored next to a record: `hmac-sha256:<64 hex>`. */
export function signRecord(record: ActionRecord, key: Buffer): string {
  return PREFIX + createHmac('sha256', key).update(DOMAIN).update(canonicalJson(record)).digest('hex');
}

/** Outcome of checking a record's signature. */
export type SignatureCheck = 'valid' | 'missing' | 'invalid';

/** Checks `signature` (as stored, possibly absent or malformed) against `record` in constant time. */
export function checkSignature(record: ActionRecord, signature: unknown, key: Buffer): SignatureCheck {
  if (signature === undefined || signature === null) return 'missing';
  if (typeof signature !== 'string' || !/^hmac-sha256:[0-9a-f]{64}$/.test(signature)) return 'invalid';
  const want = Buffer.from(signRecord(record, key).slice(PREFIX.length), 'hex');
  const got = Buffer.from(signature.slice(PREFIX.length), 'hex');
  return timingSafeEqual(want, got) ? 'valid' : 'invalid';
}

/**
 * The signing key from its environment value: used as UTF-8 bytes. An empty value means no
 * key (so `REPROVM_CACHE_SIGNING_KEY=` in a CI file does not silently sign with "").
 */
export function signingKeyFrom(value: string | undefined): Buffer | undefined {
  return value === undefined || value === '' ? undefined : Buffer.from(value, 'utf8');
}
