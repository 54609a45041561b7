/** Formatting: the tables printed on stdout and bench/RESULTS.md. */
import type { BenchConfig } from './config.js';
import { median } from './measure.js';
import type { Cell, ScenarioId, WorkloadResult } from './scenarios.js';
import type { Tool } from './workloads.js';

export interface EnvInfo {
  readonly date: string;
  readonly nproc: number;
  readonly cpu: string;
  readonly memGb: number;
  readonly kernel: string;
  readonly node: string;
  readonly make: string | undefined;
  readonly ninja: string | undefined;
  readonly zstd: string | undefined;
  readonly gnuTime: boolean;
  readonly loadStart: readonly number[];
  loadEnd: readonly number[];
  wallMs: number;
}

export interface Target {
  readonly name: string;
  readonly measured: string;
  readonly threshold: string;
  /** undefined: not measured in this run (workload not selected, tool missing). */
  readonly pass: boolean | undefined;
  /** The section (BENCH_ONLY id, or `node`) whose measurement this is; run.ts tags the rows. */
  readonly section?: string;
}

export interface MicroRow {
  readonly name: string;
  readonly value: string;
  /** As {@link Target.section}. */
  readonly section?: string;
}

type Align = 'l' | 'r';

/** A Markdown table padded so that it also reads well as plain text. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (s: string, i: number): string => (align[i] === 'r' ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => cell(c, i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`);
export const fmtMb = (kb: number | undefined): string => (kb === undefined ? '—' : `${((kb * 1024) / 1e6).toFixed(0)} MB`);
export const fmtRate = (mbs: number | undefined): string => (mbs === undefined ? '—' : `${mbs.toFixed(0)} MB/s`);

export function cellMedian(r: WorkloadResult, sc: ScenarioId, tool: Tool): number | undefined {
  const c: Cell | undefined = r.cells.get(sc)?.get(tool);
  return c && c.samples.length > 0 ? median(c.samples) : undefined;
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

function scenarioLabel(r: WorkloadResult, sc: ScenarioId): string {
  switch (sc) {
    case 'cold':
      return 'cold (fresh workspace, empty cache)';
    case 'firstNoop':
      return 'no-op right after the build (reprovm only)';
    case 'noop':
      return 'no-op';
    case 'touch':
      return `1 input changed (${r.workload.expectedTouchReruns} task${r.workload.expectedTouchReruns === 1 ? '' : 's'} rerun)`;
    case 'restore':
      return 'outputs deleted (reprovm: restore; make/ninja: rebuild)';
  }
}

export function resultsTable(results: readonly WorkloadResult[], tools: readonly Tool[]): string {
  return resultsTableOf(results.flatMap((r) => workloadRows(r, tools)), tools);
}

/** The workloads table of rows made by {@link workloadRows} (possibly of several runs). */
export function resultsTableOf(rows: readonly (readonly string[])[], tools: readonly Tool[]): string {
  const peers = tools.filter((t) => t !== 'reprovm');
  const headers = ['workload', 'scenario', 'reps', 'reprovm', ...peers, ...peers.map((p) => `reprovm/${p}`), 'reprovm peak RSS'];
  const align: Align[] = ['l', 'l', 'r', 'r', ...peers.map((): Align => 'r'), ...peers.map((): Align => 'r'), 'r'];
  return table(headers, rows, align);
}

/** The rows of one workload in the workloads table. */
export function workloadRows(r: WorkloadResult, tools: readonly Tool[]): string[][] {
  const peers = tools.filter((t) => t !== 'reprovm');
  const rows: string[][] = [];
  for (const sc of ['cold', 'noop', 'firstNoop', 'touch', 'restore'] as const) {
    if (!r.cells.has(sc)) continue;
    const ours = cellMedian(r, sc, 'reprovm');
    const theirs = peers.map((p) => cellMedian(r, sc, p));
    rows.push([
      `(${r.workload.id}) ${r.workload.title}`,
      scenarioLabel(r, sc),
      String(r.reps[sc]),
      fmtMs(ours),
      ...theirs.map(fmtMs),
      ...theirs.map((t) => fmtRatio(ratio(ours, t))),
      fmtMb(r.cells.get(sc)?.get('reprovm')?.maxRssKb),
    ]);
  }
  return rows;
}

/** A target as a row of the targets table. */
export function targetRow(t: Target): string[] {
  return [t.name, t.measured, t.threshold, t.pass === undefined ? 'n/a' : t.pass ? 'PASS' : 'FAIL'];
}

export function targetsTable(targets: readonly Target[]): string {
  return targetsTableOf(targets.map(targetRow));
}

/** The targets table of rows made by {@link targetRow}. */
export function targetsTableOf(rows: readonly (readonly string[])[]): string {
  return table(['target', 'measured', 'threshold', 'result'], rows, ['l', 'l', 'l', 'l']);
}

export function microTable(rows: readonly MicroRow[]): string {
  return microTableOf(rows.map((r) => [r.name, r.value]));
}

/** The micro-benchmark table of `[name, value]` rows. */
export function microTableOf(rows: readonly (readonly string[])[]): string {
  return table(['measurement', 'median'], rows, ['l', 'r']);
}

export function resultsMarkdown(args: {
  env: EnvInfo;
  cfg: BenchConfig;
  results: string;
  micro: string;
  targets: string;
  notes: readonly string[];
  warnings: readonly string[];
  /** Sections shown as measured by an earlier run (`BENCH_ONLY` ran others), with their dates. */
  kept?: readonly string[];
  /** Hand-written chapters kept from an earlier file. */
  extras?: readonly string[];
  /** The data block that ends the file (results-file.ts). */
  data?: string;
}): string {
  const { env, cfg } = args;
  const kept = args.kept ?? [];
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const sections = [...cfg.only].join(', ');
  return `# reprovm benchmark results

- Date: ${env.date}
- Machine: ${env.nproc} CPUs (${env.cpu}), ${env.memGb.toFixed(0)} GB RAM, Linux ${env.kernel}
- Load average (1/5/15 min): ${load(env.loadStart)} at start, ${load(env.loadEnd)} at the end
- Node ${env.node}; ${env.make ?? 'make: not installed'}; ninja ${env.ninja ?? 'not installed'}; ${env.zstd ?? 'zstd: not installed'}
- Settings: -j ${cfg.jobs}; ${cfg.reps} repetitions for fast scenarios, ${cfg.slowReps} for slow ones (cold and restore of (c) and (d)); \`node -e 0\` × ${cfg.nodeReps}; sections: ${sections}
- Peak RSS: ${env.gnuTime ? 'GNU time (`/usr/bin/time -f %M`)' : 'polled VmHWM (a lower bound: /usr/bin/time was missing)'}
- Whole benchmark: ${(env.wallMs / 60000).toFixed(1)} min

All times are medians of wall-clock time per run, process start to exit. MB = 10^6 bytes.
${kept.length > 0 ? `\nThis run measured ${sections} (the date and machine above are its own). Kept as last measured: ${kept.join(', ')}.\n` : ''}${args.warnings.length > 0 ? `\n**Warnings**\n\n${args.warnings.map((w) => `- ${w}`).join('\n')}\n` : ''}
## Targets

${args.targets}

## Workloads

${args.results}

## Start-up, hashing, restore throughput

${args.micro}

${(args.extras ?? []).map((e) => `${e}\n\n`).join('')}## Notes

${args.notes.map((n) => `- ${n}`).join('\n')}

## How to run

\`\`\`sh
npm run bench                      # builds dist/, then runs everything (about 10-15 min on 2 cores)
BENCH_ONLY=a,b npm run bench       # only some sections: a, b, c, d, hash, strict, load, remote, spawn
BENCH_ONLY=load BENCH_LOAD_SECONDS=3 npm run bench   # the API load scenario, short
BENCH_REPS=5 BENCH_SLOW_REPS=3 npm run bench   # repetitions (fast / slow scenarios)
\`\`\`

Other variables: \`BENCH_NODE_REPS\` (\`node -e 0\` samples, default 10), \`BENCH_JOBS\` (-j, default 8),
\`BENCH_KEEP=1\` (keep the generated workspaces in bench/work/run-<pid> instead of deleting them).
Needs make, ninja (\`apt-get install ninja-build\`), zstd (\`apt-get install zstd\`) and GNU time
(\`apt-get install time\`). Run it on a quiet machine: the figures are wall-clock times.
A run with \`BENCH_ONLY\` replaces only the rows of the sections it measured; the others stay as
they were (the comment at the end of this file holds every row with its section).
${args.data === undefined ? '' : `\n${args.data}`}`;
}
