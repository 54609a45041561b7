/**
 * Runs one workload through every scenario with every tool, interleaving the tools within each
 * repetition (rotating who goes first) so slow drift in machine load hits them alike.
 *
 *   cold       fresh outputs, empty cache/state (reprovm .reprovm, ninja .ninja_log)
 *   firstNoop  reprovm only: a no-op immediately after its cold build, within the 2 s "racy"
 *              window of its stat memo (files written in the last 2 s are hashed again)
 *   noop       everything built; after one untimed warm-up and ≥ 2.5 s after the build
 *   touch      one source rewritten (new content, new mtime) before each run
 *   restore    every output deleted: reprovm restores from its CAS, make/ninja rebuild
 *
 * `sync` runs (untimed) before every timed run so no run pays for the previous one's
 * write-back.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './config.js';
import { assertOk, runTimed, sleep, type Sample } from './measure.js';
import { MANIFEST, OUT_DIR, deleteOutputs, materialize, type Tool, type Workload } from './workloads.js';

export const SCENARIOS = ['cold', 'firstNoop', 'noop', 'touch', 'restore'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export interface Cell {
  readonly samples: number[];
  /** Max over the samples, KiB. */
  maxRssKb: number | undefined;
}

export interface WorkloadResult {
  readonly workload: Workload;
  readonly reps: Record<ScenarioId, number>;
  readonly cells: Map<ScenarioId, Map<Tool, Cell>>;
  /** Observations: verification results and anything unexpected. */
  readonly notes: string[];
  /** False if reprovm did something other than expected (wrong number of tasks run...). */
  ok: boolean;
}

export interface ToolSpec {
  readonly tool: Tool;
  readonly dir: string;
  readonly cmd: string;
  readonly args: readonly string[];
  /** ninja's progress lines go to /dev/null; reprovm's one-line summary is read. */
  readonly captureStdout: boolean;
}

export function toolSpecs(cfg: BenchConfig, base: string, tools: readonly Tool[]): ToolSpec[] {
  const j = String(cfg.jobs);
  return tools.map((tool): ToolSpec => {
    const dir = path.join(base, tool);
    switch (tool) {
      case 'reprovm':
        return { tool, dir, cmd: process.execPath, args: [cfg.cli, '-q', '--no-progress', '-j', j, MANIFEST], captureStdout: true };
      case 'make':
        return { tool, dir, cmd: 'make', args: [`-j${j}`, '-s'], captureStdout: true };
      case 'ninja':
        return { tool, dir, cmd: 'ninja', args: ['-j', j], captureStdout: false };
    }
  });
}

export function syncDisk(): void {
  spawnSync('sync', { stdio: 'ignore' });
}

interface Summary {
  readonly executed: number;
  readonly restored: number;
}

/** Parses "reprovm: ok: N tasks: X executed, Y restored from cache, ..." */
function parseSummary(stdout: string): Summary | undefined {
  const m = /(\d+) executed, (\d+) restored/.exec(stdout);
  return m ? { executed: Number(m[1]), restored: Number(m[2]) } : undefined;
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = xs.length === 0 ? 0 : by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

const fmt = (ms: number): string => (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`);

export async function runWorkload(
  cfg: BenchConfig,
  w: Workload,
  specs: readonly ToolSpec[],
  log: (line: string) => void,
): Promise<WorkloadResult> {
  const slowReps = w.slow ? cfg.slowReps : cfg.reps;
  const reps: Record<ScenarioId, number> = { cold: slowReps, firstNoop: 1, noop: cfg.reps, touch: cfg.reps, restore: slowReps };
  const cells = new Map<ScenarioId, Map<Tool, Cell>>();
  const result: WorkloadResult = { workload: w, reps, cells, notes: [], ok: true };
  const total = w.tasks.length;

  const record = (sc: ScenarioId, tool: Tool, s: Sample): void => {
    let byTool = cells.get(sc);
    if (!byTool) cells.set(sc, (byTool = new Map()));
    let cell = byTool.get(tool);
    if (!cell) byTool.set(tool, (cell = { samples: [], maxRssKb: undefined }));
    cell.samples.push(s.ms);
    if (s.maxRssKb !== undefined) cell.maxRssKb = Math.max(cell.maxRssKb ?? 0, s.maxRssKb);
  };
  const expect = (sc: ScenarioId, s: Sample, want: (x: Summary) => boolean, wanted: string): void => {
    const sum = parseSummary(s.stdout);
    if (sum && want(sum)) return;
    result.ok = false;
    const got = sum ? `${sum.executed} executed, ${sum.restored} restored` : JSON.stringify(s.stdout.trim());
    const note = `UNEXPECTED: reprovm ${sc} run: ${got}; expected ${wanted}`;
    if (!result.notes.includes(note)) result.notes.push(note);
    log(`  ${note}`);
  };
  const run = async (spec: ToolSpec, what: string): Promise<Sample> => {
    syncDisk();
    const s = await runTimed(spec.cmd, spec.args, { cwd: spec.dir, captureStdout: spec.captureStdout });
    return assertOk(s, `${spec.tool} (${w.id}, ${what})`);
  };
  const round = async (sc: ScenarioId, rep: number, order: readonly ToolSpec[], before: (spec: ToolSpec) => void, check?: (s: Sample) => void): Promise<void> => {
    const parts: string[] = [];
    for (const spec of order) {
      before(spec);
      const s = await run(spec, `${sc} #${rep + 1}`);
      record(sc, spec.tool, s);
      if (spec.tool === 'reprovm') check?.(s);
      parts.push(`${spec.tool} ${fmt(s.ms)}`);
    }
    log(`  [${w.id}] ${sc.padEnd(7)} ${rep + 1}/${reps[sc]}: ${parts.join(', ')}`);
  };

  log(`[${w.id}] ${w.title}: generating ${specs.length} workspaces`);
  for (const spec of specs) materialize(w, spec.dir, spec.tool);
  const reprovmSpec = specs.find((s) => s.tool === 'reprovm');

  // Cold. In the last round reprovm goes last, so its first no-op can follow at once.
  let coldEnd = 0;
  for (let rep = 0; rep < reps.cold; rep++) {
    let order = rotate(specs, rep);
    if (rep === reps.cold - 1 && reprovmSpec) order = [...order.filter((s) => s !== reprovmSpec), reprovmSpec];
    await round('cold', rep, order, (spec) => deleteOutputs(spec.dir, spec.tool, true), (s) => {
      coldEnd = performance.now();
      expect('cold', s, (x) => x.executed === total, `${total} executed`);
    });
  }

  if (reprovmSpec) {
    const s = await run(reprovmSpec, 'first no-op');
    record('firstNoop', 'reprovm', s);
    expect('firstNoop', s, (x) => x.executed === 0, '0 executed');
    log(`  [${w.id}] no-op right after the build: reprovm ${fmt(s.ms)}`);
    await sleep(Math.max(0, coldEnd + 2500 - performance.now()));
  }
  for (const spec of specs) await run(spec, 'warm-up no-op');
  for (let rep = 0; rep < reps.noop; rep++) {
    await round('noop', rep, rotate(specs, rep), () => undefined, (s) => expect('noop', s, (x) => x.executed === 0, '0 executed'));
  }

  for (let rep = 0; rep < reps.touch; rep++) {
    await round(
      'touch',
      rep,
      rotate(specs, rep),
      (spec) => writeFileSync(path.join(spec.dir, w.touched), w.touchContent(rep)),
      (s) => expect('touch', s, (x) => x.executed === w.expectedTouchReruns, `${w.expectedTouchReruns} executed`),
    );
  }

  for (let rep = 0; rep < reps.restore; rep++) {
    await round(
      'restore',
      rep,
      rotate(specs, rep),
      (spec) => deleteOutputs(spec.dir, spec.tool, false),
      (s) => expect('restore', s, (x) => x.executed === 0 && x.restored === total, `0 executed, ${total} restored`),
    );
  }

  const verdict = compareOutputs(specs, w);
  result.notes.push(verdict.message);
  if (!verdict.same) result.ok = false;
  log(`  [${w.id}] ${verdict.message}`);
  return result;
}

/** All tools must have produced byte-identical out/ trees (same commands, same inputs). */
function compareOutputs(specs: readonly ToolSpec[], w: Workload): { same: boolean; message: string } {
  if (specs.length < 2) return { same: true, message: 'outputs not compared (one tool only)' };
  const [first, ...rest] = specs as [ToolSpec, ...ToolSpec[]];
  const names = readdirSync(path.join(first.dir, OUT_DIR)).sort();
  if (names.length !== w.tasks.length) {
    return { same: false, message: `OUTPUT MISMATCH: ${first.tool} has ${names.length} outputs, expected ${w.tasks.length}` };
  }
  for (const other of rest) {
    const otherNames = readdirSync(path.join(other.dir, OUT_DIR)).sort();
    if (otherNames.join('\n') !== names.join('\n')) {
      return { same: false, message: `OUTPUT MISMATCH: ${first.tool} and ${other.tool} produced different file sets` };
    }
    for (const n of names) {
      const a = readFileSync(path.join(first.dir, OUT_DIR, n));
      const b = readFileSync(path.join(other.dir, OUT_DIR, n));
      if (!a.equals(b)) return { same: false, message: `OUTPUT MISMATCH: ${OUT_DIR}/${n} differs between ${first.tool} and ${other.tool}` };
    }
  }
  const who = specs.map((s) => s.tool).join(', ');
  return { same: true, message: `verified: the final ${names.length} outputs are byte-identical across ${who}` };
}
