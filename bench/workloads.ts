/**
 * The benchmark workloads, and the three equivalent build files generated from each one: a
 * reprovm manifest, a Makefile and a build.ninja. Every tool runs the very same shell commands
 * (all three run them as `/bin/sh -c CMD`: each command has a redirection, so make cannot skip
 * the shell), in its own copy of the workspace.
 *
 *   (a) 1,000 independent tasks:  tr a-z A-Z < in/iN.txt > out/oN.txt
 *   (b) 1,000 tasks in 10 layers of 100: layer 0 is `cksum < in/iJ.txt`, task J of layer L
 *       cats 2 or 3 outputs of layer L-1 (J, J+1[, J+2] mod 100) into cksum. Changing
 *       in/i50.txt reruns a cone that widens by two tasks per layer.
 *   (c) 10,000 independent tasks, as (a).
 *   (d) 20 tasks writing 50 MiB each: mawk prints "%09d %06d\n" lines (a counter and a
 *       seeded pseudo-random number; the seed is read from in/iN.txt) cut to 52,428,800 bytes.
 *       Deterministic and moderately compressible: zstd -3 shrinks it about 2.7x. (`srand($1+0)`:
 *       mawk ignores a string-typed seed, and every task would write the same bytes.)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkloadId } from './config.js';

export type Tool = 'reprovm' | 'make' | 'ninja';

export interface TaskDef {
  readonly name: string;
  readonly cmd: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly deps: readonly string[];
}

export interface Workload {
  readonly id: WorkloadId;
  readonly title: string;
  readonly tasks: readonly TaskDef[];
  /** Source files (workspace-relative) and their initial content. */
  readonly sources: ReadonlyMap<string, string>;
  /** The source rewritten in the "one input changed" scenario. */
  readonly touched: string;
  /** New content of {@link touched} for repetition `rep` (distinct for every rep). */
  touchContent(rep: number): string;
  /** How many tasks depend (transitively) on {@link touched}, itself included. */
  readonly expectedTouchReruns: number;
  /** Cold and restore runs are slow: they use BENCH_SLOW_REPS. */
  readonly slow: boolean;
  /** Bytes of all outputs, once built (for throughput figures); 0 when not relevant. */
  readonly outputBytes: number;
}

export const MANIFEST = 'manifest.txt';
export const OUT_DIR = 'out';
export const D_FILE_BYTES = 52_428_800;
const D_TASKS = 20;
const D_LINES = Math.ceil(D_FILE_BYTES / 17) + 1;

/** The (d) generator: 50 MiB of "%09d %06d\n" lines from a seed read from `seedFile`. */
export function bigFileCommand(seedFile: string, outFile: string): string {
  return `awk 'NR==1{srand($1+0)} END{for(i=0;i<${D_LINES};i++) printf "%09d %06d\\n", i, int(rand()*1000000)}' ${seedFile} | head -c ${D_FILE_BYTES} > ${outFile}`;
}

function independent(id: 'a' | 'c', n: number): Workload {
  const tasks: TaskDef[] = [];
  const sources = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const input = `in/i${i}.txt`;
    const output = `${OUT_DIR}/o${i}.txt`;
    sources.set(input, `workload ${id}, source file number ${i}\nthe quick brown fox jumps over the lazy dog\n`);
    tasks.push({ name: `t${i}`, cmd: `tr a-z A-Z < ${input} > ${output}`, inputs: [input], outputs: [output], deps: [] });
  }
  const touched = `in/i${Math.floor(n / 2)}.txt`;
  const original = sources.get(touched)!;
  return {
    id,
    title: `${n.toLocaleString('en-US')} independent tasks`,
    tasks,
    sources,
    touched,
    touchContent: (rep) => `${original}changed in repetition ${rep}\n`,
    expectedTouchReruns: 1,
    slow: n > 2000,
    outputBytes: 0,
  };
}

function layered(): Workload {
  const layers = 10;
  const width = 100;
  const tasks: TaskDef[] = [];
  const sources = new Map<string, string>();
  const name = (l: number, j: number): string => `t${l}_${j}`;
  const out = (l: number, j: number): string => `${OUT_DIR}/o${l}_${j}.txt`;
  for (let l = 0; l < layers; l++) {
    for (let j = 0; j < width; j++) {
      if (l === 0) {
        const input = `in/i${j}.txt`;
        sources.set(input, `layered workload, leaf ${j}\n`);
        tasks.push({ name: name(l, j), cmd: `cksum < ${input} > ${out(l, j)}`, inputs: [input], outputs: [out(l, j)], deps: [] });
        continue;
      }
      const fanIn = 2 + ((j + l) % 2);
      const from = Array.from({ length: fanIn }, (_, k) => (j + k) % width);
      const inputs = from.map((d) => out(l - 1, d));
      tasks.push({
        name: name(l, j),
        cmd: `cat ${inputs.join(' ')} | cksum > ${out(l, j)}`,
        inputs,
        outputs: [out(l, j)],
        deps: from.map((d) => name(l - 1, d)),
      });
    }
  }
  const touchedLeaf = width / 2;
  const touched = `in/i${touchedLeaf}.txt`;
  const original = sources.get(touched)!;
  return {
    id: 'b',
    title: `1,000 tasks in ${layers} layers, 2-3 deps each`,
    tasks,
    sources,
    touched,
    touchContent: (rep) => `${original}changed in repetition ${rep}\n`,
    expectedTouchReruns: dependentsOf(tasks, name(0, touchedLeaf)),
    slow: false,
    outputBytes: 0,
  };
}

function bigOutputs(): Workload {
  const tasks: TaskDef[] = [];
  const sources = new Map<string, string>();
  for (let i = 0; i < D_TASKS; i++) {
    const input = `in/i${i}.txt`;
    const output = `${OUT_DIR}/o${i}.bin`;
    sources.set(input, `${1000 + i}\n`);
    tasks.push({ name: `t${i}`, cmd: bigFileCommand(input, output), inputs: [input], outputs: [output], deps: [] });
  }
  return {
    id: 'd',
    title: `${D_TASKS} tasks, 50 MiB output each`,
    tasks,
    sources,
    touched: 'in/i7.txt',
    touchContent: (rep) => `${900_000 + rep}\n`,
    expectedTouchReruns: 1,
    slow: true,
    outputBytes: D_TASKS * D_FILE_BYTES,
  };
}

/** Number of tasks that (transitively) depend on `root`, root included. */
function dependentsOf(tasks: readonly TaskDef[], root: string): number {
  const rdeps = new Map<string, string[]>();
  for (const t of tasks) for (const d of t.deps) rdeps.set(d, [...(rdeps.get(d) ?? []), t.name]);
  const seen = new Set([root]);
  const todo = [root];
  while (todo.length > 0) {
    for (const r of rdeps.get(todo.pop()!) ?? []) {
      if (!seen.has(r)) {
        seen.add(r);
        todo.push(r);
      }
    }
  }
  return seen.size;
}

export function makeWorkload(id: WorkloadId): Workload {
  switch (id) {
    case 'a':
      return independent('a', 1000);
    case 'b':
      return layered();
    case 'c':
      return independent('c', 10_000);
    case 'd':
      return bigOutputs();
  }
}

// ---------------------------------------------------------------------------------------------
// Build files

export function manifestText(w: Workload): string {
  const lines = [`# reprovm benchmark workload (${w.id}): ${w.title}. Generated by bench/workloads.ts.`, ''];
  for (const t of w.tasks) {
    lines.push(`task ${t.name} {`, `  cmd = ${t.cmd}`);
    if (t.inputs.length > 0) lines.push(`  inputs = ${t.inputs.join(', ')}`);
    lines.push(`  outputs = ${t.outputs.join(', ')}`);
    if (t.deps.length > 0) lines.push(`  deps = ${t.deps.join(', ')}`);
    lines.push('}', '');
  }
  return lines.join('\n');
}

/** `$` → `$$`: the escape of a literal dollar in both Makefiles and build.ninja. */
const dollars = (cmd: string): string => cmd.replaceAll('$', () => '$$');

/** Wraps a long list of words into backslash-continued lines. */
function wrapWords(words: readonly string[], perLine = 40): string {
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += perLine) rows.push(words.slice(i, i + perLine).join(' '));
  return rows.join(' \\\n  ');
}

export function makefileText(w: Workload): string {
  // A plain hand-written Makefile: make's built-in rules stay on, as in most projects (the
  // issue's "plain make"). `make -r` (no implicit-rule search) is measured separately.
  const lines = [
    `# reprovm benchmark workload (${w.id}): ${w.title}. Generated by bench/workloads.ts.`,
    '.PHONY: all',
    `all: ${wrapWords(w.tasks.flatMap((t) => t.outputs))}`,
    '',
  ];
  for (const t of w.tasks) {
    lines.push(`${t.outputs.join(' ')}: ${t.inputs.join(' ')}`, `\t${dollars(t.cmd)}`, '');
  }
  return lines.join('\n');
}

export function ninjaText(w: Workload): string {
  const lines = [
    `# reprovm benchmark workload (${w.id}): ${w.title}. Generated by bench/workloads.ts.`,
    'ninja_required_version = 1.3',
    '',
    'rule sh',
    '  command = $cmd',
    '',
  ];
  for (const t of w.tasks) {
    lines.push(`build ${t.outputs.join(' ')}: sh ${t.inputs.join(' ')}`, `  cmd = ${dollars(t.cmd)}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Writes a fresh workspace for `tool` at `dir`: sources, its build file, an empty out/. */
export function materialize(w: Workload, dir: string, tool: Tool): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dirs = new Set<string>();
  for (const rel of w.sources.keys()) dirs.add(path.dirname(rel));
  for (const d of dirs) mkdirSync(path.join(dir, d), { recursive: true });
  for (const [rel, content] of w.sources) writeFileSync(path.join(dir, rel), content);
  if (tool === 'reprovm') writeFileSync(path.join(dir, MANIFEST), manifestText(w));
  if (tool === 'make') writeFileSync(path.join(dir, 'Makefile'), makefileText(w));
  if (tool === 'ninja') writeFileSync(path.join(dir, 'build.ninja'), ninjaText(w));
  mkdirSync(path.join(dir, OUT_DIR));
}

/**
 * Deletes every output (out/ is recreated empty: make does not create directories, and all
 * three tools get the same starting point). With `forgetState`, the tool's own state goes too:
 * reprovm's cache and workspace state, ninja's log; this is a cold start.
 */
export function deleteOutputs(dir: string, tool: Tool, forgetState: boolean): void {
  rmSync(path.join(dir, OUT_DIR), { recursive: true, force: true });
  mkdirSync(path.join(dir, OUT_DIR));
  if (!forgetState) return;
  if (tool === 'reprovm') rmSync(path.join(dir, '.reprovm'), { recursive: true, force: true });
  if (tool === 'ninja') for (const f of ['.ninja_log', '.ninja_deps']) rmSync(path.join(dir, f), { force: true });
}
