/**
 * The audit log's on-disk format (version 1).
 *
 * Layout: a text file of JSON lines, one entry per line, each ending in `\n`:
 *
 *   {"v":1,"seq":N,"time":ISO,"user":U,"host":H,"pid":P,"type":T,"details":{...},"prev":HEX}
 *
 * - `seq` counts entries from 1 and `prev` is the SHA-256 (hex) of the previous entry's exact
 *   line bytes (without its `\n`); the first entry's `prev` is {@link GENESIS}. Any edit,
 *   deletion or reordering of a line breaks the link from the line after it (and `seq` tells a
 *   gap or a step backwards from an edit). The newest entry has no successor: an edit of the
 *   last line is only visible against an outside copy (the syslog copy, a backup).
 * - Appending needs the last line's hash, so writers on this host serialise through a short
 *   lock file next to the log ({@link ./audit-file-lock.ts}) and write each batch of lines with
 *   one `write()` on an `O_APPEND` descriptor: lines of different processes never interleave.
 * - Durability: no fsync per entry (an audit log that doubled the cost of a build would be
 *   turned off). A crash of the machine can lose the newest entries; a process killed mid-write
 *   can leave a torn last line (no `\n`).
 * - A torn last line is detected by the next writer, which first writes `\n` (closing the
 *   fragment off) and then an `audit.torn-line` entry whose `prev` is the hash of the last good
 *   entry and whose details name the fragment (line, length, SHA-256). `audit verify` accepts a
 *   fragment only when exactly such an entry follows it, and reports an unrecovered torn last
 *   line as an error.
 */
import { createHash } from 'node:crypto';

/** The format version written in every entry (`v`). */
export const AUDIT_FORMAT_VERSION = 1;

/** `prev` of the first entry. */
export const GENESIS = '0'.repeat(64);

/** Every kind of audit entry. Other modules append entries of these types through `AuditLog`. */
export type AuditEventType =
  | 'run.started'
  | 'run.finished'
  | 'task.started'
  | 'task.succeeded'
  | 'task.failed'
  | 'task.restored'
  | 'cache.stored'
  | 'cache.evicted'
  | 'cache.corrupt'
  | 'remote.push'
  | 'remote.pull'
  | 'remote.auth-failure'
  | 'remote.signature-rejected'
  | 'config.loaded'
  | 'lock.acquired'
  | 'lock.stale-broken'
  | 'backup.created'
  | 'backup.restored'
  | 'backup.pruned'
  | 'notify.failed'
  | 'api.request'
  | 'security.path-escape'
  | 'security.bad-token'
  | 'audit.torn-line';

/** All types, for `audit show --type` validation. */
export const AUDIT_EVENT_TYPES: readonly AuditEventType[] = [
  'run.started', 'run.finished', 'task.started', 'task.succeeded', 'task.failed', 'task.restored',
  'cache.stored', 'cache.evicted', 'cache.corrupt', 'remote.push', 'remote.pull', 'remote.auth-failure',
  'remote.signature-rejected', 'config.loaded', 'lock.acquired', 'lock.stale-broken', 'backup.created',
  'backup.restored', 'backup.pruned', 'notify.failed', 'api.request', 'security.path-escape',
  'security.bad-token', 'audit.torn-line',
];

/** One parsed entry. */
export interface AuditEntry {
  readonly v: number;
  readonly seq: number;
  readonly time: string;
  readonly user: string;
  readonly host: string;
  readonly pid: number;
  readonly type: string;
  readonly details: Record<string, unknown>;
  readonly prev: string;
}

/** Who writes: fixed per process. */
export interface AuditIdentity {
  readonly user: string;
  readonly host: string;
  readonly pid: number;
}

/** SHA-256 hex of one line's bytes (without the newline). */
export function lineHash(line: string | Buffer): string {
  return createHash('sha256').update(line).digest('hex');
}

/** The exact line of an entry (without `\n`); the field order is part of the format. */
export function formatEntry(e: Omit<AuditEntry, 'v'>): string {
  return JSON.stringify({
    v: AUDIT_FORMAT_VERSION,
    seq: e.seq,
    time: e.time,
    user: e.user,
    host: e.host,
    pid: e.pid,
    type: e.type,
    details: e.details,
    prev: e.prev,
  });
}

/** Parses one line; undefined when it is not a well-formed entry. */
export function parseEntry(line: string): AuditEntry | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const e = o as Record<string, unknown>;
  const ok =
    typeof e.v === 'number' &&
    typeof e.seq === 'number' &&
    typeof e.time === 'string' &&
    typeof e.user === 'string' &&
    typeof e.host === 'string' &&
    typeof e.pid === 'number' &&
    typeof e.type === 'string' &&
    typeof e.details === 'object' &&
    e.details !== null &&
    typeof e.prev === 'string';
  return ok ? (e as unknown as AuditEntry) : undefined;
}

/** Where the chain continues from: the last good entry's seq and hash. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The head of an empty log. */
export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS };
