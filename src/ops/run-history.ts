/**
 * The run history `<cache_dir>/run-stats.jsonl` (format version 1) behind the hit rates of
 * `cache stats` and the metrics exporter: one JSON object per finished run, appended with a
 * single O_APPEND write (lines of concurrent runs never interleave). Fields: v, time,
 * workspace, total, executed, cached, failed, skipped, wallMs. Readers skip lines that do not
 * parse (a torn last line after a crash) and lines of another version. When the file passes
 * 256 KiB it is rewritten (temp + rename) to its last 200 lines, so it stays small without a
 * separate rotation job.
 */
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../util/atomic-write.js';

/** One run in the history file. */
export interface RunStatsEntry {
  readonly time: string;
  readonly workspace: string;
  readonly total: number;
  readonly executed: number;
  readonly cached: number;
  readonly failed: number;
  readonly skipped: number;
  readonly wallMs: number;
}

const HISTORY = 'run-stats.jsonl';
const MAX_HISTORY_BYTES = 256 * 1024;
const KEEP_LINES = 200;

/** Append one finished run to the history (never throws: statistics must not fail a run). */
export function appendRunStats(cacheDir: string, entry: RunStatsEntry): void {
  const file = join(cacheDir, HISTORY);
  try {
    appendFileSync(file, `${JSON.stringify({ v: 1, ...entry })}\n`);
    if (statSync(file).size > MAX_HISTORY_BYTES) {
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
      writeFileAtomicSync(file, `${lines.slice(-KEEP_LINES).join('\n')}\n`);
    }
  } catch {
    // A read-only or vanished cache dir: the run itself already succeeded or failed on its own.
  }
}

/** The run history, oldest first (torn and foreign lines skipped). */
export function readRunStats(cacheDir: string): RunStatsEntry[] {
  let text: string;
  try {
    text = readFileSync(join(cacheDir, HISTORY), 'utf8');
  } catch {
    return [];
  }
  const out: RunStatsEntry[] = [];
  for (const line of text.split('\n')) {
    try {
      const o = JSON.parse(line) as Partial<RunStatsEntry> & { v?: unknown };
      if (o.v === 1 && typeof o.executed === 'number' && typeof o.cached === 'number' && typeof o.time === 'string') {
        out.push({
          time: o.time, workspace: String(o.workspace ?? ''), total: Number(o.total ?? 0), executed: o.executed, cached: o.cached,
          failed: Number(o.failed ?? 0), skipped: Number(o.skipped ?? 0), wallMs: Number(o.wallMs ?? 0),
        });
      }
    } catch {
      // torn or empty line
    }
  }
  return out;
}
