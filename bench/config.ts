/**
 * Benchmark settings, read once from the environment.
 *
 *   BENCH_REPS=5         repetitions of fast scenarios (no-op, one input changed, small cold runs)
 *   BENCH_SLOW_REPS=3    repetitions of slow scenarios (cold and restore of (c) and (d))
 *   BENCH_NODE_REPS=10   samples of `node -e 0`
 *   BENCH_ONLY=a,b       workloads to run: any of a, b, c, d, hash, strict, load, remote, spawn (default: all)
 *   BENCH_LOAD_SECONDS=30  duration of each API load measurement (see load.ts)
 *   BENCH_JOBS=8         -j for reprovm, make and ninja
 *   BENCH_KEEP=1         keep this run's bench/work/run-<pid> afterwards (default: removed)
 *   BENCH_RESULTS=file   where the results go (default: bench/RESULTS.md); sections not run are kept from it
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKLOAD_IDS = ['a', 'b', 'c', 'd'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];
export const SECTION_IDS = [...WORKLOAD_IDS, 'hash', 'strict', 'load', 'remote', 'spawn'] as const;
export type SectionId = (typeof SECTION_IDS)[number];

export interface BenchConfig {
  readonly reps: number;
  readonly slowReps: number;
  readonly nodeReps: number;
  readonly jobs: number;
  readonly only: ReadonlySet<SectionId>;
  readonly keep: boolean;
  /** The repository root. */
  readonly root: string;
  /** bench/work: every generated file lives below it. */
  readonly workDir: string;
  /**
   * bench/work/run-<pid>: this run's files. One directory per run, so that two runs started
   * at once (several people share this checkout) never delete each other's workspaces.
   */
  readonly runDir: string;
  /** bin/reprovm.js */
  readonly cli: string;
  /** The results file (bench/RESULTS.md unless BENCH_RESULTS says otherwise). */
  readonly resultsFile: string;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

function isSection(s: string): s is SectionId {
  return (SECTION_IDS as readonly string[]).includes(s);
}

function parseOnly(raw: string | undefined): Set<SectionId> {
  if (raw === undefined || raw.trim() === '') return new Set(SECTION_IDS);
  const picked = new Set<SectionId>();
  for (const part of raw.split(/[\s,]+/).filter((p) => p !== '')) {
    const id = part.toLowerCase();
    if (!isSection(id)) throw new Error(`BENCH_ONLY: unknown section "${part}" (known: ${SECTION_IDS.join(', ')})`);
    picked.add(id);
  }
  return picked;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
  return {
    reps: positiveInt(env, 'BENCH_REPS', 5),
    slowReps: positiveInt(env, 'BENCH_SLOW_REPS', 3),
    nodeReps: positiveInt(env, 'BENCH_NODE_REPS', 10),
    jobs: positiveInt(env, 'BENCH_JOBS', 8),
    only: parseOnly(env['BENCH_ONLY']),
    keep: env['BENCH_KEEP'] === '1',
    root,
    workDir: path.join(root, 'bench', 'work'),
    runDir: path.join(root, 'bench', 'work', `run-${process.pid}`),
    cli: path.join(root, 'bin', 'reprovm.js'),
    resultsFile: path.resolve(env['BENCH_RESULTS'] || path.join(root, 'bench', 'RESULTS.md')),
  };
}
