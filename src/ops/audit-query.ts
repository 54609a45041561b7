/** `audit show`: reads entries back with filters (time, type, count). Lines that are not entries are skipped. */
import { parseEntry, type AuditEntry } from './audit-format.js';
import { readRawLines } from './audit-lines.js';

export interface AuditQuery {
  /** Entries at or after this time. */
  readonly since?: Date;
  /** Only these types (exact names, or a prefix ending in `.`: `task.` matches every task entry). */
  readonly types?: readonly string[];
  /** Only the newest N matching entries. */
  readonly limit?: number;
}

function typeMatches(type: string, types: readonly string[]): boolean {
  return types.some((t) => (t.endsWith('.') ? type.startsWith(t) : type === t));
}

/** Matching entries of the log at `file`, oldest first. */
export function queryAudit(file: string, q: AuditQuery): AuditEntry[] {
  const sinceMs = q.since?.getTime();
  const out: AuditEntry[] = [];
  for (const raw of readRawLines(file)) {
    if (!raw.terminated) continue;
    const e = parseEntry(raw.bytes.toString('utf8'));
    if (!e) continue;
    if (sinceMs !== undefined && !(Date.parse(e.time) >= sinceMs)) continue;
    if (q.types && q.types.length > 0 && !typeMatches(e.type, q.types)) continue;
    out.push(e);
    // Keep memory bounded by the limit, not by the log.
    if (q.limit !== undefined && out.length > q.limit * 2) out.splice(0, out.length - q.limit);
  }
  return q.limit !== undefined ? out.slice(Math.max(0, out.length - q.limit)) : out;
}

/** Parses `--since`: a duration back from `now` (`90s`, `30m`, `1h`, `2d`, `1w`) or an ISO date/time. */
export function parseSince(text: string, now: Date): Date | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (m) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return undefined;
  const t = Date.parse(text.trim());
  return Number.isNaN(t) ? undefined : new Date(t);
}
