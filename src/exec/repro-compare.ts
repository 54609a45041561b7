import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inlineBlob, type ActionRecord } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { FileDigest } from '../hash/digest.js';
import { ok } from '../errors/result.js';
import { snapshotOutputs, type ProducedEntry } from './repro-scratch.js';

/*
 * Comparing what a re-execution produced with the cached action record: per output, the
 * digests, and for text files the first line that differs.
 */

/** The first line where two text files differ (1-based); `null` stands for "no such line". */
export interface LineDifference {
  readonly line: number;
  readonly cached: string | null;
  readonly new: string | null;
}

/** One output whose re-execution did not match the cached result. */
export interface OutputDifference {
  readonly path: string;
  /**
   * `differs`: other content (or link target); `missing`: declared in the record, not produced;
   * `unexpected`: produced under a declared directory, not in the record; `kind-changed`: e.g. a
   * file where the record has a directory.
   */
  readonly problem: 'differs' | 'missing' | 'unexpected' | 'kind-changed';
  readonly cachedDigest?: string;
  readonly newDigest?: string;
  readonly cachedTarget?: string;
  readonly newTarget?: string;
  /** Only for files whose cached and new contents are both text (valid UTF-8, no NUL). */
  readonly firstDifference?: LineDifference;
}

/** Longest line kept in a {@link LineDifference} (the rest is cut and marked with `…`). */
const MAX_LINE = 1000;

/**
 * Compares the outputs a command left in `dir` with `record`. Returns no differences when the
 * re-execution reproduced the cached result exactly (same paths, kinds, digests, link targets).
 */
export async function compareOutputs(
  dir: string,
  declared: readonly string[],
  record: ActionRecord,
  store: ObjectStore,
): Promise<OutputDifference[]> {
  const produced = snapshotOutputs(dir, declared);
  const diffs: OutputDifference[] = [];
  const cachedPaths = new Set<string>();
  for (const entry of record.outputs) {
    cachedPaths.add(entry.path);
    const now = produced.get(entry.path);
    if (!now) {
      // Inside a missing declared directory, only the directory itself is reported.
      if (!record.outputs.some((o) => o.kind === 'dir' && entry.path.startsWith(`${o.path}/`) && !produced.has(o.path))) {
        diffs.push({ path: entry.path, problem: 'missing', ...(entry.digest ? { cachedDigest: entry.digest } : {}) });
      }
      continue;
    }
    if (now.kind !== entry.kind) {
      diffs.push({ path: entry.path, problem: 'kind-changed', ...digests(entry.digest, now) });
      continue;
    }
    if (entry.kind === 'symlink' && now.target !== entry.target) {
      diffs.push({ path: entry.path, problem: 'differs', cachedTarget: entry.target ?? '', newTarget: now.target ?? '' });
    } else if (entry.kind === 'file' && now.digest !== entry.digest) {
      const inline = inlineBlob(record, entry.digest ?? '');
      const cached = inline !== undefined ? ok(inline) : await store.getBuffer(entry.digest as FileDigest);
      const fresh = readFileSync(path.join(dir, ...entry.path.split('/')));
      const first = cached.ok ? firstDifferingLine(cached.value, fresh) : undefined;
      diffs.push({ path: entry.path, problem: 'differs', ...digests(entry.digest, now), ...(first ? { firstDifference: first } : {}) });
    }
  }
  for (const [rel, now] of produced) {
    if (!cachedPaths.has(rel)) diffs.push({ path: rel, problem: 'unexpected', ...digests(undefined, now) });
  }
  return diffs;
}

function digests(cached: string | undefined, now: ProducedEntry): { cachedDigest?: string; newDigest?: string } {
  return { ...(cached ? { cachedDigest: cached } : {}), ...(now.digest ? { newDigest: now.digest } : {}) };
}

/** True for valid UTF-8 without NUL bytes: what is shown line by line. */
export function isText(buf: Buffer): boolean {
  if (buf.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first line (1-based) where two texts differ, or undefined when either is not text or
 * they are equal. When only the final newline differs, the last line is reported with its `\n`.
 */
export function firstDifferingLine(cached: Buffer, fresh: Buffer): LineDifference | undefined {
  if (!isText(cached) || !isText(fresh) || cached.equals(fresh)) return undefined;
  const a = splitLines(cached.toString('utf8'));
  const b = splitLines(fresh.toString('utf8'));
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return { line: i + 1, cached: clip(a[i] ?? null), new: clip(b[i] ?? null) };
  }
  // Same lines: only the newline at the end differs.
  const last = Math.max(1, a.length);
  const withEol = (buf: Buffer, line: string | undefined): string => `${line ?? ''}${buf.at(-1) === 0x0a ? '\n' : ''}`;
  return { line: last, cached: clip(withEol(cached, a.at(-1))), new: clip(withEol(fresh, b.at(-1))) };
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function clip(line: string | null): string | null {
  return line !== null && line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
}

/** One difference in words, e.g. `out.txt differs at line 3: "a" vs "b"` (for lines and warnings). */
export function describeDifference(d: OutputDifference, maxLine = 60): string {
  switch (d.problem) {
    case 'missing':
      return `${d.path} was not produced`;
    case 'unexpected':
      return `${d.path} was produced but is not in the cached result`;
    case 'kind-changed':
      return `${d.path} changed kind`;
    case 'differs': {
      if (d.cachedTarget !== undefined || d.newTarget !== undefined) {
        return `${d.path} links to ${JSON.stringify(d.newTarget)} instead of ${JSON.stringify(d.cachedTarget)}`;
      }
      const f = d.firstDifference;
      if (f) return `${d.path} differs at line ${f.line}: ${showLine(f.cached, maxLine)} vs ${showLine(f.new, maxLine)}`;
      return `${d.path} differs (cached ${short(d.cachedDigest)}, new ${short(d.newDigest)})`;
    }
  }
}

function showLine(line: string | null, max: number): string {
  if (line === null) return '<end of file>';
  return JSON.stringify(line.length > max ? `${line.slice(0, max)}…` : line);
}

const short = (digest: string | undefined): string => (digest ? `${digest.slice(0, 12)}…` : '-');
