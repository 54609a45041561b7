/**
 * `audit verify`: walks the hash chain and reports the first entry that breaks it, saying what
 * most likely happened (format: ./audit-format.ts).
 */
import { GENESIS, lineHash, parseEntry, type AuditEntry } from './audit-format.js';
import { readHead } from './audit-head.js';
import { readRawLines } from './audit-lines.js';

export type AuditProblemKind = 'edited' | 'deleted' | 'reordered' | 'torn' | 'invalid';

export interface AuditProblem {
  /** 1-based line number of the bad line. */
  readonly line: number;
  readonly kind: AuditProblemKind;
  readonly message: string;
}

/** The result of a verification; plain JSON. */
export interface AuditVerifyReport {
  readonly ok: boolean;
  readonly file: string;
  /** Entries checked (up to the first problem). */
  readonly entries: number;
  /** Lines of torn fragments that a later writer closed off with an `audit.torn-line` entry. */
  readonly recoveredTornLines: readonly number[];
  readonly problem?: AuditProblem;
  /** Why the chain head file (`<log>.head`) could not be used, when it could not. */
  readonly headWarning?: string;
}

interface Fragment {
  readonly line: number;
  readonly bytes: number;
  readonly sha256: string;
}

function isRecoveryOf(entry: AuditEntry, f: Fragment): boolean {
  return entry.type === 'audit.torn-line' && entry.details.bytes === f.bytes && entry.details.sha256 === f.sha256;
}

/** Line number of the entry with sequence number `seq` after `fromLine`, if any. */
function findSeqAfter(file: string, seq: number, fromLine: number): number | undefined {
  for (const raw of readRawLines(file)) {
    if (raw.number <= fromLine) continue;
    if (parseEntry(raw.bytes.toString('utf8'))?.seq === seq) return raw.number;
  }
  return undefined;
}

/** Verifies the chain of the log at `file` (a missing file is an empty, valid log). */
export function verifyAuditLog(file: string): AuditVerifyReport {
  let expectedPrev = GENESIS;
  let expectedSeq = 1;
  let entries = 0;
  let prevLine = 0;
  let fragment: Fragment | undefined;
  const recovered: number[] = [];
  const head = readHead(file);
  let headLineHash: string | undefined;
  const fail = (problem: AuditProblem): AuditVerifyReport => ({ ok: false, file, entries, recoveredTornLines: recovered, problem });

  for (const raw of readRawLines(file)) {
    const text = raw.bytes.toString('utf8');
    if (!raw.terminated) {
      return fail({ line: raw.number, kind: 'torn', message: `line ${raw.number} is torn (an append was interrupted); the next append will close it off and continue the chain` });
    }
    const entry = parseEntry(text);
    if (!entry) {
      if (fragment) return fail({ line: fragment.line, kind: 'invalid', message: `line ${fragment.line} is not a valid audit entry (edited or corrupted)` });
      fragment = { line: raw.number, bytes: raw.bytes.length, sha256: lineHash(raw.bytes) };
      continue;
    }
    if (fragment) {
      if (!isRecoveryOf(entry, fragment)) {
        return fail({ line: fragment.line, kind: 'invalid', message: `line ${fragment.line} is not a valid audit entry (edited or corrupted)` });
      }
      recovered.push(fragment.line);
      fragment = undefined;
    }
    if (entry.prev !== expectedPrev || entry.seq !== expectedSeq) {
      if (entry.seq === expectedSeq) {
        const line = prevLine;
        return fail({ line, kind: 'edited', message: `line ${line} was modified: the hash in line ${raw.number} does not match it` });
      }
      if (entry.seq > expectedSeq) {
        const later = findSeqAfter(file, expectedSeq, raw.number);
        return later === undefined
          ? fail({
              line: raw.number,
              kind: 'deleted',
              message: entry.seq - 1 > expectedSeq
                ? `entries ${expectedSeq}-${entry.seq - 1} before line ${raw.number} were deleted`
                : `entry ${expectedSeq} before line ${raw.number} was deleted`,
            })
          : fail({ line: raw.number, kind: 'reordered', message: `line ${raw.number} is out of order: entry ${expectedSeq} should come before it but is at line ${later}` });
      }
      if (entry.prev === expectedPrev) {
        return fail({ line: raw.number, kind: 'edited', message: `line ${raw.number} was modified: its sequence number is ${entry.seq}, expected ${expectedSeq}` });
      }
      return fail({ line: raw.number, kind: 'reordered', message: `line ${raw.number} is out of order: entry ${entry.seq} appears after entry ${expectedSeq - 1}` });
    }
    entries++;
    prevLine = raw.number;
    expectedPrev = lineHash(raw.bytes);
    if (typeof head === 'object' && entry.seq === head.seq) headLineHash = expectedPrev;
    expectedSeq = entry.seq + 1;
  }
  if (fragment) return fail({ line: fragment.line, kind: 'invalid', message: `line ${fragment.line} is not a valid audit entry (edited or corrupted)` });
  // The chain cannot show entries cut off its end; the head file recorded at the last append can.
  const lastSeq = expectedSeq - 1;
  if (typeof head === 'object' && head.seq > lastSeq) {
    return fail({
      line: prevLine + 1,
      kind: 'deleted',
      message: `entries after ${lastSeq} were deleted: the log ends at entry ${lastSeq}, but entry ${head.seq} was written (see ${file}.head)`,
    });
  }
  if (typeof head === 'object' && head.seq === lastSeq && head.seq > 0 && headLineHash !== head.hash) {
    return fail({ line: prevLine, kind: 'edited', message: `line ${prevLine} (entry ${lastSeq}) is not the entry that was written last: it was modified or replaced` });
  }
  return { ok: true, file, entries, recoveredTornLines: recovered, ...(typeof head === 'string' ? { headWarning: head } : {}) };
}
