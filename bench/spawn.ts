/**
 * Process creation (section `spawn`): what the spawner costs a cold build of many tiny tasks.
 *
 * Cold runs of workload (a) (1,000 independent `tr` tasks) by reprovm with each spawner
 * (`REPROVM_SPAWNER=native`: posix_spawn on a spawner thread; `node`: child_process.spawn,
 * which forks the Node process), by ninja and by make, interleaved rep by rep in rotating
 * order, so that all four see the same machine load (this machine is shared: figures from
 * different minutes are not comparable, ratios within one rep are). The ratio to ninja is
 * taken per rep, and the median of those is reported. CPU time (user + system of the whole
 * process tree, from GNU time) is reported too: on a saturated machine it is the steadier
 * measure of what each tool costs.
 *
 * Also the runner alone: the same 1,000 commands through `runCommand` (capture files, -j 8)
 * in this process with each spawner, without anything else reprovm does per task (keys, CAS,
 * records). That is the floor the spawner sets for a cold build.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ProcessGroups, runCommand } from '../src/exec/process-runner.js';
import { loadNativeSpawn } from '../src/exec/spawn-native.js';
import { NODE_SPAWNER, type Spawner } from '../src/exec/spawn-select.js';
import { GNU_TIME, assertOk, haveGnuTime, median, runTimed, toolEnv, which } from './measure.js';
import { fmtMs, fmtRatio, type MicroRow, type Target } from './report.js';
import { syncDisk } from './scenarios.js';
import { MANIFEST, deleteOutputs, makeWorkload, materialize, type Tool } from './workloads.js';

type Variant = 'native' | 'node' | 'ninja' | 'make';

/** The method in one paragraph, for the notes of RESULTS.md. */
export const SPAWN_NOTE =
  'spawn: cold runs of workload (a) by reprovm with `REPROVM_SPAWNER=native` (posix_spawn on the addon\'s spawner thread) and `REPROVM_SPAWNER=node` (child_process.spawn, a fork of the Node process per command), by ninja and by make, interleaved in rotating order within each repetition; the ratio to ninja is the median of the per-repetition ratios. CPU time is user + system of the whole process tree (GNU time). "runCommand alone" starts the same 1,000 commands through the runner in the bench process (capture files, 8 at once) with nothing else per task: the floor a spawner sets.';

export interface SpawnResult {
  readonly rows: MicroRow[];
  readonly targets: Target[];
}

/** Runs `cmds` with at most `jobs` at once through runCommand; wall time in ms. */
async function runnerAlone(cmds: readonly string[], cwd: string, jobs: number, spawner: Spawner): Promise<number> {
  const captureDir = path.join(cwd, '.capture');
  mkdirSync(captureDir, { recursive: true });
  const groups = new ProcessGroups(spawner);
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < cmds.length) {
      const r = await runCommand({ cmd: cmds[next++]!, cwd, env, captureDir }, groups);
      if (r.exitCode !== 0) throw new Error(`runner alone: a command failed: ${r.spawnError ?? r.stderr.toString()}`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const ms = performance.now() - t0;
  rmSync(captureDir, { recursive: true, force: true });
  return ms;
}

export async function measureSpawn(cli: string, jobs: number, base: string, reps: number, log: (line: string) => void): Promise<SpawnResult> {
  const native = loadNativeSpawn();
  if (!native.ok) throw new Error(`the native spawner is not available: ${native.reason}`);
  const w = makeWorkload('a');
  const variants: Variant[] = ['native', 'node', ...(which('ninja') ? (['ninja'] as const) : []), ...(which('make') ? (['make'] as const) : [])];
  const toolOf = (v: Variant): Tool => (v === 'native' || v === 'node' ? 'reprovm' : v);
  const dirOf = (v: Variant): string => path.join(base, v);
  for (const v of variants) materialize(w, dirOf(v), toolOf(v));
  const j = String(jobs);
  const command = (v: Variant): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv } => {
    if (v === 'ninja') return { cmd: 'ninja', args: ['-j', j] };
    if (v === 'make') return { cmd: 'make', args: [`-j${j}`, '-s'] };
    return { cmd: process.execPath, args: [cli, '-q', '--no-progress', '-j', j, MANIFEST], env: { ...toolEnv(), REPROVM_SPAWNER: v } };
  };
  const ms = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const cpu = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  const ratio = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (let rep = 0; rep < reps; rep++) {
    const order = variants.map((_, i) => variants[(i + rep) % variants.length]!);
    const got = new Map<Variant, number>();
    for (const v of order) {
      deleteOutputs(dirOf(v), toolOf(v), true);
      syncDisk();
      const c = command(v);
      const cpuFile = path.join(base, `cpu-${v}.txt`);
      const [cmd, args] = haveGnuTime ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, c.cmd, ...c.args]] : [c.cmd, c.args];
      const s = assertOk(await runTimed(cmd, args, { cwd: dirOf(v), ...(c.env ? { env: c.env } : {}) }), `spawn: ${v}`);
      got.set(v, s.ms);
      ms.get(v)!.push(s.ms);
      if (haveGnuTime) {
        const [user, sys] = (readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number);
        if (Number.isFinite(user) && Number.isFinite(sys)) cpu.get(v)!.push(1000 * (user! + sys!));
      }
    }
    const ninja = got.get('ninja');
    if (ninja !== undefined) for (const v of variants) ratio.get(v)!.push(got.get(v)! / ninja);
    log(`bench: spawn: rep ${rep + 1}: ${order.map((v) => `${v} ${fmtMs(got.get(v))}`).join(', ')}`);
  }

  const cmds = w.tasks.map((t) => t.cmd);
  const alone = { native: [] as number[], node: [] as number[] };
  const aloneDir = dirOf('native');
  for (let rep = 0; rep < reps; rep++) {
    for (const v of rep % 2 === 0 ? (['native', 'node'] as const) : (['node', 'native'] as const)) {
      deleteOutputs(aloneDir, 'reprovm', true);
      alone[v].push(await runnerAlone(cmds, aloneDir, jobs, v === 'native' ? { kind: 'native', addon: native.addon } : NODE_SPAWNER));
    }
  }
  for (const v of variants) rmSync(dirOf(v), { recursive: true, force: true });

  const rows: MicroRow[] = [];
  const perRep = (v: Variant): string => (ratio.get(v)!.length > 0 ? ` = ${fmtRatio(median(ratio.get(v)!))} ninja` : '');
  const label: Record<Variant, string> = {
    native: 'reprovm, native spawner (posix_spawn)',
    node: 'reprovm, child_process spawner (fork)',
    ninja: 'ninja',
    make: 'make',
  };
  for (const v of variants) rows.push({ section: 'spawn', name: `(a) cold, interleaved: ${label[v]}`, value: `${fmtMs(median(ms.get(v)!))}${perRep(v)}` });
  if (cpu.get('native')!.length > 0) {
    const cpuOf = (v: Variant): string => `${label[v].replace(/ \(.*\)$/, '')} ${fmtMs(median(cpu.get(v)!))}`;
    rows.push({ section: 'spawn', name: `(a) cold, CPU time (user + system, whole process tree): ${variants.map(cpuOf).join(', ')}`, value: fmtRatio(median(cpu.get('native')!) / median(cpu.get('node')!)) });
  }
  rows.push(
    { section: 'spawn', name: '1,000 commands through runCommand alone, -j 8: native spawner', value: fmtMs(median(alone.native)) },
    { section: 'spawn', name: '1,000 commands through runCommand alone, -j 8: child_process spawner', value: fmtMs(median(alone.node)) },
  );
  const targets: Target[] = [];
  if (ratio.get('native')!.length > 0) {
    const r = median(ratio.get('native')!);
    targets.push({
      section: 'spawn',
      name: 'cold (a) at -j 8 vs ninja, native spawner (interleaved)',
      measured: `${fmtMs(median(ms.get('native')!))} vs ninja ${fmtMs(median(ms.get('ninja')!))}: ${fmtRatio(r)} (child_process: ${fmtRatio(median(ratio.get('node')!))})`,
      threshold: '≤ 1.3×',
      pass: r <= 1.3,
    });
  }
  return { rows, targets };
}
