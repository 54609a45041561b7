/**
 * The tamper-evident audit log: hash-chained JSON lines (format and crash behaviour in
 * ./audit-format.ts). Anything may append through {@link AuditLog.append}; it is synchronous
 * and never throws — a failure to write is one warning on stderr, never a failed build.
 *
 * Two modes:
 * - immediate (default): each `append` takes the log's lock, reads the chain head and writes the
 *   line, all before it returns (about 0.15 ms; see the README's "Audit log" section);
 * - batched (`batch` option, used by `run`): entries are queued and written together under one
 *   lock at most `maxDelayMs` later, when `maxEntries` are queued, on `flush()`/`close()`, and
 *   on process exit. A process killed with SIGKILL loses at most the entries of the last
 *   `maxDelayMs`; the chain stays valid either way.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { secretRedactor } from '../config/redact.js';
import { lockSyncWithin } from './audit-file-lock.js';
import { writeHead } from './audit-head.js';
import { formatEntry, lineHash, type AuditEventType, type AuditIdentity } from './audit-format.js';
import { redactDeep, redactValues } from './audit-redact.js';
import { SyslogCopy } from './audit-syslog.js';
import { readTail } from './audit-tail.js';

export type { AuditEventType } from './audit-format.js';

export interface AuditLogOptions {
  /** Also send every entry to syslog through the `logger` command. */
  readonly syslog?: boolean;
  /** Applied to every string in details (secrets → `***`). URL credentials are always masked. */
  readonly redact?: (text: string) => string;
  /** Queue entries and write them in batches (see the module note). */
  readonly batch?: { readonly maxDelayMs: number; readonly maxEntries: number };
  /** How long an append waits for another writer's lock before giving up (default 10 s). */
  readonly lockTimeoutMs?: number;
  /** Where the one-time warnings go (default stderr). */
  readonly warn?: (message: string) => void;
}

/** Entries kept while the lock is unavailable; older ones are dropped beyond this. */
const MAX_PENDING = 10_000;
/** Lock wait of appends after a lock timeout, so a stuck lock does not stall every append for the full timeout. */
const CONTENDED_WAIT_MS = 50;

interface Pending {
  readonly time: string;
  readonly type: string;
  readonly details: Record<string, unknown>;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (containers with arbitrary uids).
    return typeof process.getuid === 'function' ? String(process.getuid()) : 'unknown';
  }
}

/** An open audit log. */
export class AuditLog {
  readonly file: string;
  readonly #identity: AuditIdentity;
  readonly #redact: (text: string) => string;
  readonly #batch: AuditLogOptions['batch'];
  readonly #lockTimeoutMs: number;
  readonly #warn: (message: string) => void;
  readonly #syslog: SyslogCopy | undefined;
  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #warned = false;
  /** Set after a lock timeout: later appends wait only briefly (entries stay queued) until one gets through. */
  #contended = false;
  #dropped = 0;
  readonly #onExit = (): void => this.flush();

  private constructor(file: string, opts: AuditLogOptions) {
    this.file = file;
    this.#identity = { user: currentUser(), host: hostname(), pid: process.pid };
    this.#redact = opts.redact ?? ((t) => t);
    this.#batch = opts.batch;
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.#warn = opts.warn ?? ((m) => process.stderr.write(`reprovm: warning: ${m}\n`));
    this.#syslog = opts.syslog ? new SyslogCopy(this.#warn) : undefined;
    // Batched entries must not die with the process when it exits without close().
    if (this.#batch) process.on('exit', this.#onExit);
  }

  /** Opens (lazily creates) the log at `file`. Never throws. */
  static open(file: string, opts: AuditLogOptions = {}): AuditLog {
    return new AuditLog(path.resolve(file), opts);
  }

  /** Appends one entry (details are redacted). Synchronous in immediate mode; never throws. */
  append(type: AuditEventType, details: Record<string, unknown>): void {
    let safe: Record<string, unknown>;
    try {
      safe = redactDeep(details, this.#redact) as Record<string, unknown>;
    } catch {
      safe = { error: 'details could not be recorded' };
    }
    if (this.#pending.length >= MAX_PENDING) {
      // The lock has been unavailable for a long time: keep memory bounded, count what is lost.
      this.#pending.shift();
      this.#dropped++;
    }
    this.#pending.push({ time: new Date().toISOString(), type, details: safe });
    if (!this.#batch || this.#pending.length >= this.#batch.maxEntries) this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.flush(), this.#batch.maxDelayMs);
      this.#timer.unref();
    }
  }

  /** Writes every queued entry now (one lock, one write). Never throws. */
  flush(): void {
    this.#flush(this.#contended ? CONTENDED_WAIT_MS : this.#lockTimeoutMs);
  }

  #flush(lockWaitMs: number): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending.length === 0) return;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      const lock = lockSyncWithin(`${this.file}.lock`, lockWaitMs);
      if (!lock) {
        this.#contended = true;
        // Keep the entries: the next flush (at the latest on close or exit) tries again.
        this.#warnOnce(`the audit log ${this.file} is locked by another process; entries are delayed`);
        return;
      }
      let lines: string[];
      try {
        lines = this.#writeLocked();
      } finally {
        lock.release();
      }
      this.#pending = [];
      this.#contended = false;
      this.#syslog?.send(lines);
      if (this.#dropped > 0) {
        this.#warnOnce(`${this.#dropped} audit entries were dropped while ${this.file} stayed locked`);
        this.#dropped = 0;
      }
    } catch (error) {
      const n = this.#pending.length;
      this.#pending = [];
      this.#warnOnce(`cannot write the audit log ${this.file}: ${error instanceof Error ? error.message : String(error)} (${n} entries lost)`);
    }
  }

  /** Under the lock: continue the chain from the file's tail and append the queued lines. */
  #writeLocked(): string[] {
    const fd = openSync(this.file, 'a+', 0o640);
    try {
      const tail = readTail(fd);
      let { seq, hash } = tail.head;
      const lines: string[] = [];
      let prefix = '';
      if (tail.torn) {
        prefix = '\n'; // closes the fragment off as a line of its own
        const line = formatEntry({
          seq: seq + 1,
          time: new Date().toISOString(),
          ...this.#identity,
          type: 'audit.torn-line',
          details: { bytes: tail.torn.bytes, sha256: tail.torn.sha256, afterSeq: seq },
          prev: hash,
        });
        lines.push(line);
        seq += 1;
        hash = lineHash(line);
      }
      for (const p of this.#pending) {
        const line = formatEntry({ seq: seq + 1, time: p.time, ...this.#identity, type: p.type, details: p.details, prev: hash });
        lines.push(line);
        seq += 1;
        hash = lineHash(line);
      }
      const buf = Buffer.from(prefix + lines.map((l) => `${l}\n`).join(''));
      // One write; a short write (disk full) is continued under the same lock.
      let done = 0;
      while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
      // Still under the lock: the anchor that lets verify see entries deleted from the end.
      writeHead(this.file, { seq, hash });
      return lines;
    } finally {
      closeSync(fd);
    }
  }

  #warnOnce(message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    try {
      this.#warn(message);
    } catch {
      // A warning channel that fails must not make append throw.
    }
  }

  /** Flushes and stops the syslog copy. */
  async close(): Promise<void> {
    this.#flush(this.#lockTimeoutMs);
    if (this.#batch) process.off('exit', this.#onExit);
    await this.#syslog?.close();
  }
}

/** Where the audit log of a cache directory is: `[audit] path`, else `<cache_dir>/audit.log`. */
export function auditLogPath(config: Config, cacheDir: string): string {
  return config.audit.path ? path.resolve(config.audit.path) : path.join(cacheDir, 'audit.log');
}

/**
 * The configured audit log for a cache directory, or undefined when `[audit] enabled = 0`.
 * `extraSecrets` (signing keys, tokens from the environment) are redacted as well.
 */
export function openAuditLog(
  config: Config,
  cacheDir: string,
  opts: { batch?: AuditLogOptions['batch']; extraSecrets?: readonly string[]; warn?: (message: string) => void } = {},
): AuditLog | undefined {
  if (!config.audit.enabled) return undefined;
  const extra = redactValues(opts.extraSecrets ?? []);
  const configured = secretRedactor(config);
  const file = auditLogPath(config, cacheDir);
  return AuditLog.open(file, {
    syslog: config.audit.syslog,
    redact: (text) => extra(configured(text)),
    ...(opts.batch ? { batch: opts.batch } : {}),
    ...(opts.warn ? { warn: opts.warn } : {}),
  });
}
