/**
 * bench/RESULTS.md across partial runs. `BENCH_ONLY=hash` measures one section; the file must
 * still show every other section as it was last measured. So every table row is tagged with the
 * section that measured it, and the tagged rows travel inside RESULTS.md itself:
 *
 * - Layout: the Markdown a reader sees, then one HTML comment `<!-- bench-data {json} -->`
 *   holding {@link ResultsData} (version 1): per section its date, table rows, notes and any
 *   hand-written text. JSON cannot hold `--` outside strings, and inside strings it is written
 *   `-\u002d`, so the comment never closes early.
 * - A run replaces the sections it measured (and `node`, measured by every run) and keeps the
 *   others; the tables are rendered from the merged data.
 * - A file without the comment (written before this existed, then edited by hand) is imported
 *   once: rows are attributed to sections by their names, and hand-written `## ... (section
 *   `id`)` chapters are kept as that section's text until the section is measured again.
 * - A comment that does not parse is treated like a missing one (the file is read as Markdown).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SECTION_IDS, type SectionId } from './config.js';

/** A benchmark section, or `node` (the `node -e 0` baseline every run measures). */
export type SectionKey = SectionId | 'node';

/** What one section contributed to RESULTS.md. */
export interface SectionRows {
  /** When it was measured (ISO date of the run). */
  readonly date: string;
  readonly targets: readonly (readonly string[])[];
  readonly workloads: readonly (readonly string[])[];
  readonly micro: readonly (readonly string[])[];
  readonly notes: readonly string[];
  /** Hand-written Markdown kept from an older file (dropped when the section is measured again). */
  readonly extra?: string;
}

/** The data block of RESULTS.md. */
export interface ResultsData {
  readonly version: 1;
  readonly sections: Partial<Record<SectionKey, SectionRows>>;
}

/** Sections in the order their rows appear. */
export const SECTION_ORDER: readonly SectionKey[] = ['node', ...SECTION_IDS];

const BLOCK = /<!-- bench-data (\{[\s\S]*\}) -->\s*$/;

/** The data of an existing RESULTS.md (see the module comment); undefined when there is no file. */
export function readResults(file: string): ResultsData | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const m = BLOCK.exec(text);
  if (m?.[1] !== undefined) {
    try {
      const data = JSON.parse(m[1]) as ResultsData;
      if (data.version === 1 && typeof data.sections === 'object') return data;
    } catch {
      // Fall through: read the Markdown itself.
    }
  }
  return importMarkdown(text);
}

/** `previous` with the sections in `ran` replaced by those of `current`. */
export function mergeResults(previous: ResultsData | undefined, current: ResultsData, ran: ReadonlySet<SectionKey>): ResultsData {
  const sections: Partial<Record<SectionKey, SectionRows>> = {};
  for (const key of SECTION_ORDER) {
    const rows = ran.has(key) ? current.sections[key] : previous?.sections[key];
    if (rows !== undefined) sections[key] = rows;
  }
  return { version: 1, sections };
}

/** The merged rows of one table, in section order. */
export function rowsOf(data: ResultsData, table: 'targets' | 'workloads' | 'micro'): string[][] {
  return SECTION_ORDER.flatMap((key) => (data.sections[key]?.[table] ?? []).map((r) => [...r]));
}

/** Notes and hand-written chapters, in section order. */
export function textOf(data: ResultsData): { notes: string[]; extras: string[] } {
  const present = SECTION_ORDER.map((key) => data.sections[key]).filter((s): s is SectionRows => s !== undefined);
  return { notes: present.flatMap((s) => s.notes), extras: present.flatMap((s) => (s.extra === undefined ? [] : [s.extra])) };
}

/** One line per section that was kept from an earlier run (empty when everything is new). */
export function keptLines(data: ResultsData, ran: ReadonlySet<SectionKey>): string[] {
  return SECTION_ORDER.filter((key) => !ran.has(key) && data.sections[key] !== undefined).map((key) => `\`${key}\` (${data.sections[key]!.date})`);
}

/** The comment that ends RESULTS.md. */
export function dataBlock(data: ResultsData): string {
  return `<!-- bench-data ${JSON.stringify(data).replaceAll('--', '-\\u002d')} -->\n`;
}

// ---- import of a file written before the data block existed ----

/** The section a row of an old file belongs to, from its name. */
function sectionOfRow(table: 'targets' | 'workloads' | 'micro', name: string): SectionKey | undefined {
  if (/^`node -e 0`/.test(name)) return 'node';
  if (/--strict/.test(name)) return 'strict';
  if (/SHA-256|^hashing/.test(name)) return 'hash';
  if (/^remote |plain SDK|local-only/.test(name)) return 'remote';
  if (/GET \/|node:http|errors on/.test(name)) return 'load';
  if (/zstd -d|^restore/.test(name)) return 'd';
  const letter = /\(([abcd])\)/.exec(name)?.[1];
  if (letter !== undefined) return letter as SectionKey;
  return table === 'targets' ? undefined : 'node';
}

/** The rows of the first Markdown table after `## heading`. */
function tableAfter(text: string, heading: string): string[][] {
  const start = text.indexOf(`\n## ${heading}`);
  if (start < 0) return [];
  const lines = text.slice(start).split('\n').slice(1);
  const first = lines.findIndex((l) => l.startsWith('|'));
  if (first < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

function importMarkdown(text: string): ResultsData {
  const date = /^- Date: (\S+)/m.exec(text)?.[1] ?? 'unknown date';
  const acc = new Map<SectionKey, { targets: string[][]; workloads: string[][]; micro: string[][]; notes: string[]; extra?: string }>();
  const of = (key: SectionKey) => {
    let s = acc.get(key);
    if (s === undefined) acc.set(key, (s = { targets: [], workloads: [], micro: [], notes: [] }));
    return s;
  };
  const tables = [['targets', 'Targets'], ['workloads', 'Workloads'], ['micro', 'Start-up']] as const;
  for (const [table, heading] of tables) {
    for (const row of tableAfter(text, heading)) {
      const key = sectionOfRow(table, row[0] ?? '');
      if (key !== undefined) of(key)[table].push(row);
    }
  }
  // Per-workload notes ("(a) verified: ..."); the fixed notes are written by every run.
  for (const m of text.matchAll(/^- (\(([abcd])\) .*)$/gm)) of(m[2] as SectionKey).notes.push(m[1]!);
  // Hand-written chapters of one section: "## API load (section `load`)" up to the next chapter.
  for (const m of text.matchAll(/^## [^\n]*\(section `(\w+)`\)[^\n]*\n[\s\S]*?(?=^## |(?![\s\S]))/gm)) {
    const key = m[1] as SectionKey;
    if (SECTION_ORDER.includes(key)) of(key).extra = m[0].trimEnd();
  }
  const sections: Partial<Record<SectionKey, SectionRows>> = {};
  for (const [key, s] of acc) sections[key] = { date, ...s };
  return { version: 1, sections };
}
