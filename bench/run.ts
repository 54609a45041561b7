/**
 * reprovm benchmark: reprovm side by side with `make -j` and `ninja -j` on equivalent build
 * files, plus start-up, hashing and restore-throughput micro-benchmarks. Prints a table and
 * writes bench/RESULTS.md. Run with `npm run bench` (which builds dist/ first); settings are
 * environment variables, see config.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, WORKLOAD_IDS, type BenchConfig, type SectionId, type WorkloadId } from './config.js';
import { LOAD_NOTE, loadRows, loadTargets, measureLoad, type LoadResult } from './load.js';
import { measureRemote, type RemoteResult } from './remote.js';
import { SPAWN_NOTE, measureSpawn, type SpawnResult } from './spawn.js';
import { activeChildCount, haveGnuTime, killActiveChildren, median, setScratchDir, sleep, which } from './measure.js';
import {
  makeDataFile, measureFileCreation, measureHashing, measureNodeStartup, measureStrictOverhead, measureZstd, throughput,
  type HashResult, type StrictResult, type ZstdResult,
} from './micro.js';
import {
  cellMedian, fmtMb, fmtMs, fmtRate, fmtRatio, microTable, microTableOf, resultsMarkdown, resultsTable, resultsTableOf, targetRow,
  targetsTable, targetsTableOf, workloadRows, type EnvInfo, type MicroRow, type Target,
} from './report.js';
import {
  dataBlock, keptLines, mergeResults, readResults, rowsOf, SECTION_ORDER, textOf, type ResultsData, type SectionKey, type SectionRows,
} from './results-file.js';
import { runWorkload, toolSpecs, type WorkloadResult } from './scenarios.js';
import { makeWorkload, type Tool } from './workloads.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function version(cmd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

/** Removes this run's directory (unless BENCH_KEEP=1), and bench/work itself once it is empty. */
function removeWorkDir(cfg: BenchConfig): void {
  if (cfg.keep) return;
  rmSync(cfg.runDir, { recursive: true, force: true });
  try {
    rmdirSync(cfg.workDir);
  } catch {
    // Not empty: another run is using it, or BENCH_KEEP left one behind.
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes directories of earlier runs that were killed before they could clean up. */
function sweepStaleRuns(cfg: BenchConfig): void {
  let names: string[];
  try {
    names = readdirSync(cfg.workDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^run-(\d+)$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(path.join(cfg.workDir, name), { recursive: true, force: true });
  }
}

let stopping = false;
function installSignalHandlers(cfg: BenchConfig): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`\nbench: ${signal}: stopping the running command and cleaning up`);
    killActiveChildren('SIGTERM');
    void (async () => {
      for (let i = 0; i < 50 && activeChildCount() > 0; i++) await sleep(100);
      killActiveChildren('SIGKILL');
      await sleep(100);
      removeWorkDir(cfg);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

interface Micro {
  strict?: StrictResult | undefined;
  node: { samples: number[]; maxRssKb: number | undefined };
  load?: LoadResult | undefined;
  remote?: RemoteResult | undefined;
  spawn?: SpawnResult | undefined;
  hash: HashResult | undefined;
  zstd: ZstdResult | undefined;
  /** Median over 3 rounds of the CPU time of one new small file (temp + rename) in the bench's directory. */
  fileCreation?: { cpuUsPerFile: number; wallUsPerFile: number } | undefined;
}

function buildTargets(results: ReadonlyMap<WorkloadId, WorkloadResult>, micro: Micro, tools: readonly Tool[]): Target[] {
  const nodeMs = median(micro.node.samples);
  const targets: Target[] = [];
  const noop = (id: WorkloadId, tool: Tool): number | undefined => {
    const r = results.get(id);
    return r ? cellMedian(r, 'noop', tool) : undefined;
  };
  for (const id of ['a', 'b'] as const) {
    const ours = noop(id, 'reprovm');
    const make = tools.includes('make') ? noop(id, 'make') : undefined;
    targets.push({
      section: id,
      name: `no-op (${id}) faster than make`,
      measured: `${fmtMs(ours)} vs make ${fmtMs(make)}`,
      threshold: 'reprovm < make',
      pass: ours === undefined || make === undefined ? undefined : ours < make,
    });
    targets.push({
      section: id,
      name: `no-op (${id}) vs \`node -e 0\``,
      measured: `${fmtMs(ours)} = ${fmtRatio(ours === undefined ? undefined : ours / nodeMs)} of ${fmtMs(nodeMs)}`,
      threshold: '≤ 1.5×',
      pass: ours === undefined ? undefined : ours <= 1.5 * nodeMs,
    });
  }
  const noopC = noop('c', 'reprovm');
  targets.push({ section: 'c', name: 'no-op (c), 10,000 tasks', measured: fmtMs(noopC), threshold: '< 1 s', pass: noopC === undefined ? undefined : noopC < 1000 });

  const a = results.get('a');
  const coldA = a ? cellMedian(a, 'cold', 'reprovm') : undefined;
  const coldNinja = a && tools.includes('ninja') ? cellMedian(a, 'cold', 'ninja') : undefined;
  targets.push({
    section: 'a',
    name: 'cold (a) at -j 8 vs ninja',
    measured: `${fmtMs(coldA)} vs ninja ${fmtMs(coldNinja)} = ${fmtRatio(coldA !== undefined && coldNinja !== undefined ? coldA / coldNinja : undefined)}`,
    threshold: '≤ 1.3×',
    pass: coldA === undefined || coldNinja === undefined ? undefined : coldA <= 1.3 * coldNinja,
  });

  const d = results.get('d');
  const restoreD = d ? cellMedian(d, 'restore', 'reprovm') : undefined;
  const ourRate = d && restoreD !== undefined ? d.workload.outputBytes / 1e6 / (restoreD / 1000) : undefined;
  const zstdRate = micro.zstd ? throughput(micro.zstd.bytes, micro.zstd.samples) : undefined;
  targets.push({
    section: 'd',
    name: 'restore (d) throughput vs `zstd -d`',
    measured: `${fmtRate(ourRate)} vs ${fmtRate(zstdRate)} = ${ourRate !== undefined && zstdRate !== undefined ? `${((100 * ourRate) / zstdRate).toFixed(0)}%` : '—'}`,
    threshold: '≥ 70%',
    pass: ourRate === undefined || zstdRate === undefined ? undefined : ourRate >= 0.7 * zstdRate,
  });

  const h = micro.hash;
  const hOurs = h ? throughput(h.bytes, h.reprovmMs) : undefined;
  // Against the faster of the two bare variants (64 KiB or 1 MiB chunks).
  const hBare = h ? Math.max(throughput(h.bytes, h.bareMs), throughput(h.bytes, h.bare1MiBMs)) : undefined;
  targets.push({
    section: 'hash',
    name: 'hashing (FileHasher) vs bare crypto (faster variant)',
    measured: `${fmtRate(hOurs)} vs ${fmtRate(hBare)} = ${hOurs !== undefined && hBare !== undefined ? `${((100 * hOurs) / hBare).toFixed(0)}%` : '—'}`,
    threshold: '≥ 80%',
    pass: hOurs === undefined || hBare === undefined ? undefined : hOurs >= 0.8 * hBare,
  });

  const c = results.get('c');
  let rssC: number | undefined;
  for (const cells of c?.cells.values() ?? []) {
    const kb = cells.get('reprovm')?.maxRssKb;
    if (kb !== undefined) rssC = Math.max(rssC ?? 0, kb);
  }
  targets.push({
    section: 'c',
    name: 'peak RSS of reprovm on (c), any scenario',
    measured: fmtMb(rssC),
    threshold: '< 300 MB',
    pass: rssC === undefined ? undefined : (rssC * 1024) / 1e6 < 300,
  });
  return targets;
}

function microRows(results: ReadonlyMap<WorkloadId, WorkloadResult>, micro: Micro): MicroRow[] {
  const nodeMs = median(micro.node.samples);
  const rows: MicroRow[] = [{ section: 'node', name: `\`node -e 0\` (${micro.node.samples.length} runs)`, value: fmtMs(nodeMs) }];
  for (const id of ['a', 'b', 'c'] as const) {
    const r = results.get(id);
    const ours = r ? cellMedian(r, 'noop', 'reprovm') : undefined;
    if (ours !== undefined) rows.push({ section: id, name: `reprovm no-op (${id}) / \`node -e 0\``, value: fmtRatio(ours / nodeMs) });
  }
  const fc = micro.fileCreation;
  if (fc) {
    rows.push({
      section: 'a',
      name: 'one new small file (900 B, temp + rename) on the workspaces\' disk: CPU time (kernel + user), median of 3 × 1,000',
      value: `${fc.cpuUsPerFile.toFixed(0)} µs`,
    });
    const a = results.get('a');
    const ninja = a ? cellMedian(a, 'cold', 'ninja') : undefined;
    if (ninja !== undefined) {
      // Two CPUs: 1,000 extra files cost at least half their CPU time in wall time.
      const floor = ninja + (1000 * fc.cpuUsPerFile) / 1000 / 2;
      rows.push({ section: 'a', name: 'cold (a) lower bound for any tool that writes one cache record file per task: ninja + 1,000 new files / 2 CPUs', value: `${fmtMs(floor)} = ${fmtRatio(floor / ninja)} ninja` });
    }
  }
  const h = micro.hash;
  if (h) {
    const ours = throughput(h.bytes, h.reprovmMs);
    const bare = throughput(h.bytes, h.bareMs);
    const bare1MiB = throughput(h.bytes, h.bare1MiBMs);
    rows.push(
      { section: 'hash', name: `SHA-256 of a 50 MiB file: reprovm FileHasher.hashFileUncached (${fmtMs(median(h.reprovmMs))})`, value: fmtRate(ours) },
      { section: 'hash', name: `SHA-256 of a 50 MiB file: createReadStream (64 KiB chunks) → createHash (${fmtMs(median(h.bareMs))})`, value: fmtRate(bare) },
      { section: 'hash', name: `SHA-256 of a 50 MiB file: createReadStream (1 MiB chunks) → createHash (${fmtMs(median(h.bare1MiBMs))})`, value: fmtRate(bare1MiB) },
      { section: 'hash', name: 'hashing: reprovm / faster bare crypto variant', value: `${((100 * ours) / Math.max(bare, bare1MiB)).toFixed(0)}%` },
    );
  }
  const st = micro.strict;
  if (st) {
    const pct = (a: number[], b: number[]): string => `${(100 * (median(b) / median(a) - 1)).toFixed(0)}%`;
    rows.push(
      { section: 'strict', name: `(a) cold: without / with \`--strict\` (${fmtMs(median(st.coldMs))} / ${fmtMs(median(st.coldStrictMs))})`, value: `+${pct(st.coldMs, st.coldStrictMs)}` },
      { section: 'strict', name: `(a) no-op: without / with \`--strict\` (${fmtMs(median(st.noopMs))} / ${fmtMs(median(st.noopStrictMs))})`, value: `+${pct(st.noopMs, st.noopStrictMs)}` },
    );
  }
  const d = results.get('d');
  const restoreD = d ? cellMedian(d, 'restore', 'reprovm') : undefined;
  if (d && restoreD !== undefined) {
    rows.push({ section: 'd', name: `restore (d): reprovm, 20 × 50 MiB from the CAS (${fmtMs(restoreD)})`, value: fmtRate(d.workload.outputBytes / 1e6 / (restoreD / 1000)) });
  }
  const z = micro.zstd;
  if (z) {
    rows.push({
      section: 'd',
      name: `\`zstd -d\` of one 50 MiB file (zstd -3: ${(z.bytes / z.compressedBytes).toFixed(2)}:1) into a new file (${fmtMs(median(z.samples))})`,
      value: fmtRate(throughput(z.bytes, z.samples)),
    });
    if (d && restoreD !== undefined) {
      rows.push({ section: 'd', name: 'restore: reprovm / zstd -d', value: `${((100 * (d.workload.outputBytes / 1e6 / (restoreD / 1000))) / throughput(z.bytes, z.samples)).toFixed(0)}%` });
    }
  }
  return rows;
}

const STATIC_NOTES: readonly string[] = [
  'Every tool runs the same shell commands through `/bin/sh -c` in its own copy of the workspace: reprovm with `-q --no-progress -j 8`, `make -j8 -s`, `ninja -j8` (stdout to /dev/null). Commands are wrapped in `/usr/bin/time -f %M` alike.',
  'Workloads: (a)/(c) `tr a-z A-Z < in/iN.txt > out/oN.txt`; (b) 10 layers × 100, layer 0 `cksum < in/iJ.txt`, task J of layer L `cat` 2-3 outputs of layer L-1 (J, J+1[, J+2] mod 100) `| cksum`; (d) 20 × `awk` printing "%09d %06d\\n" lines (counter, seeded pseudo-random number; seed read from in/iN.txt) `| head -c 52428800`: 50 MiB of deterministic text that zstd -3 compresses about 2.7:1.',
  'The Makefile is a plain one (built-in rules on, as in most hand-written Makefiles): the "plain make" of the targets. With `make -r` (no implicit-rule search) make\'s no-op of (a) takes about 5-10 ms here; that is the figure to beat for a generated Makefile.',
  'cold: outputs and the tool\'s state deleted before each run (reprovm: .reprovm; ninja: .ninja_log). no-op: after one untimed warm-up run, and at least 2.5 s after the build so that reprovm\'s stat memo trusts every file (it re-hashes files modified less than 2 s before it looks: the "no-op right after the build" row). 1 input changed: the source is rewritten with new content before each run. `sync` runs (untimed) before every timed run.',
  'outputs deleted: reprovm restores every output from its CAS; make and ninja have no cache, so their figure is a full rebuild.',
  'Restore throughput: 20 × 50 MiB over the wall time of the whole reprovm restore run (start-up, decompression, SHA-256 verification, writing; several files at once on all CPUs), against one single-threaded `zstd -d` process decoding the first of those files (same bytes) into a new file.',
  'Hashing runs in this process on a file in the page cache: `new FileHasher(new StatMemo()).hashFileUncached()` against `for await (chunk of createReadStream(file)) hash.update(chunk)` with the default 64 KiB chunks and with 1 MiB chunks, rotating the order, after a warm-up; the target compares with the faster bare variant.',
];

async function main(): Promise<void> {
  const cfg = loadConfig();
  installSignalHandlers(cfg);
  const t0 = performance.now();
  const warnings: string[] = [];

  if (!existsSync(path.join(cfg.root, 'dist', 'cli.js'))) {
    throw new Error('dist/cli.js is missing: run `npm run bench` (it builds first) or `npm run build`');
  }
  const tools: Tool[] = ['reprovm'];
  if (which('make')) tools.push('make');
  else warnings.push('make is not installed (`apt-get install make`): no make figures.');
  if (which('ninja')) tools.push('ninja');
  else warnings.push('ninja is not installed: install it with `apt-get install ninja-build`. No ninja figures; the cold-vs-ninja target is n/a.');
  const haveZstd = which('zstd') !== undefined;
  if (!haveZstd && cfg.only.has('d')) warnings.push('zstd is not installed (`apt-get install zstd`): no `zstd -d` comparison.');
  if (!haveGnuTime) warnings.push('/usr/bin/time is missing (`apt-get install time`): peak RSS is polled from /proc (a lower bound).');
  for (const w of warnings) log(`bench: WARNING: ${w}`);

  const env: EnvInfo = {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    memGb: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    node: process.version,
    make: version('make', ['--version']),
    ninja: version('ninja', ['--version']),
    zstd: version('zstd', ['--version'])?.replace(/^\*+\s*/, '').replace(/,.*$/, ''),
    gnuTime: haveGnuTime,
    loadStart: os.loadavg(),
    loadEnd: [],
    wallMs: 0,
  };
  log(`bench: ${env.nproc} CPUs, node ${env.node}, ${env.make ?? 'no make'}, ninja ${env.ninja ?? 'missing'}; load ${env.loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  log(`bench: reps ${cfg.reps} (slow ${cfg.slowReps}), -j ${cfg.jobs}, sections ${[...cfg.only].join(',')}`);

  sweepStaleRuns(cfg);
  rmSync(cfg.runDir, { recursive: true, force: true });
  const scratch = path.join(cfg.runDir, '.scratch');
  mkdirSync(scratch, { recursive: true });
  setScratchDir(scratch);

  const micro: Micro = { node: await measureNodeStartup(cfg.nodeReps, scratch), hash: undefined, zstd: undefined };
  log(`bench: node -e 0: ${fmtMs(median(micro.node.samples))} (median of ${cfg.nodeReps})`);

  const results = new Map<WorkloadId, WorkloadResult>();
  for (const id of WORKLOAD_IDS) {
    if (!cfg.only.has(id)) continue;
    const base = path.join(cfg.runDir, id);
    const r = await runWorkload(cfg, makeWorkload(id), toolSpecs(cfg, base, tools), log);
    results.set(id, r);
    if (!r.ok) warnings.push(`workload (${id}): ${r.notes.filter((n) => /UNEXPECTED|MISMATCH/.test(n)).join('; ')}`);
    if (!cfg.keep) rmSync(base, { recursive: true, force: true });
  }

  if (cfg.only.has('a')) {
    // Measured after the workloads, in the state their cold runs left the file system in: on
    // this machine's disk the cost of a new file grows several-fold while files are created
    // and deleted by the thousand (71 µs on a quiet disk, 250-750 µs after a few cold runs).
    const rounds = [0, 1, 2].map(() => measureFileCreation(path.join(cfg.runDir, 'file-creation')));
    const mid = [...rounds].sort((x, y) => x.cpuUsPerFile - y.cpuUsPerFile)[1]!;
    micro.fileCreation = mid;
    log(`bench: one new small file (temp + rename): ${mid.cpuUsPerFile.toFixed(0)} µs CPU, ${mid.wallUsPerFile.toFixed(0)} µs wall`);
  }

  if (cfg.only.has('hash') || (cfg.only.has('d') && haveZstd)) {
    const file = makeDataFile(path.join(cfg.runDir, 'micro'));
    if (cfg.only.has('hash')) {
      micro.hash = await measureHashing(file, Math.max(cfg.reps, 5));
      const hm = micro.hash;
      log(`bench: hashing: FileHasher ${fmtMs(median(hm.reprovmMs))}, bare crypto ${fmtMs(median(hm.bareMs))} (64 KiB) / ${fmtMs(median(hm.bare1MiBMs))} (1 MiB)`);
    }
    if (cfg.only.has('d') && haveZstd) {
      micro.zstd = await measureZstd(file, cfg.reps);
      log(`bench: zstd -d: ${fmtMs(median(micro.zstd.samples))}`);
    }
  }

  if (cfg.only.has('strict')) {
    micro.strict = await measureStrictOverhead(cfg.cli, cfg.jobs, path.join(cfg.runDir, 'strict'), cfg.slowReps);
    log(`bench: --strict: cold ${fmtMs(median(micro.strict.coldMs))} → ${fmtMs(median(micro.strict.coldStrictMs))}`);
  }

  if (cfg.only.has('load')) {
    // Needs `reprovm serve`; a failure here is a warning, the other sections still count.
    try {
      micro.load = await measureLoad(cfg.cli, path.join(cfg.runDir, 'load'), log);
    } catch (error) {
      warnings.push(`load: not measured: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  if (cfg.only.has('remote')) {
    // Needs s3rver on loopback; a failure here is a warning, the other sections still count.
    try {
      micro.remote = await measureRemote(cfg.cli, path.join(cfg.runDir, 'remote'), cfg.jobs, cfg.slowReps, log);
    } catch (error) {
      warnings.push(`remote: not measured: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  if (cfg.only.has('spawn')) {
    // Needs the native addon (npm run build:native); without it the section is a warning.
    try {
      micro.spawn = await measureSpawn(cfg.cli, cfg.jobs, path.join(cfg.runDir, 'spawn'), cfg.reps, log);
    } catch (error) {
      warnings.push(`spawn: not measured: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  env.loadEnd = os.loadavg();
  env.wallMs = performance.now() - t0;
  const ordered = [...results.values()];
  const resultText = resultsTable(ordered, tools);
  const microText = microTable([...microRows(results, micro), ...(micro.load ? loadRows(micro.load) : []), ...(micro.remote?.rows ?? []), ...(micro.spawn?.rows ?? [])]);
  const targetText = targetsTable([
    ...buildTargets(results, micro, tools),
    ...(cfg.only.has('load') ? loadTargets(micro.load) : []),
    ...(micro.remote?.targets ?? []),
    ...(micro.spawn?.targets ?? []),
  ]);

  process.stdout.write(`\nreprovm benchmark — ${env.date} — ${env.nproc} CPUs, node ${env.node}\n\n`);
  if (warnings.length > 0) process.stdout.write(`${warnings.map((w) => `WARNING: ${w}`).join('\n')}\n\n`);
  process.stdout.write(`Targets\n\n${targetText}\n\nWorkloads (medians)\n\n${resultText}\n\nMicro-benchmarks\n\n${microText}\n\n`);

  // The results file keeps the sections this run did not measure (results-file.ts).
  const measured = (key: SectionKey): boolean =>
    key === 'node' || (cfg.only.has(key as SectionId) && (key === 'load' ? micro.load !== undefined : key === 'remote' ? micro.remote !== undefined : key === 'spawn' ? micro.spawn !== undefined : true));
  const ran = new Set(SECTION_ORDER.filter(measured));
  const allTargets = [
    ...buildTargets(results, micro, tools),
    ...(micro.load ? loadTargets(micro.load).map((t) => ({ ...t, section: 'load' })) : []),
    ...(micro.remote?.targets ?? []).map((t) => ({ ...t, section: 'remote' })),
    ...(micro.spawn?.targets ?? []),
  ];
  const allMicro = [...microRows(results, micro), ...(micro.load ? loadRows(micro.load) : []).map((r) => ({ ...r, section: 'load' })), ...(micro.remote?.rows ?? []).map((r) => ({ ...r, section: 'remote' })), ...(micro.spawn?.rows ?? [])];
  const current: ResultsData = {
    version: 1,
    sections: Object.fromEntries(
      [...ran].map((key) => {
        const workload = results.get(key as WorkloadId);
        const rows: SectionRows = {
          date: env.date,
          targets: allTargets.filter((t) => t.section === key).map(targetRow),
          workloads: workload ? workloadRows(workload, tools) : [],
          micro: allMicro.filter((r) => r.section === key).map((r) => [r.name, r.value]),
          notes: key === 'load' ? [LOAD_NOTE] : key === 'spawn' ? [SPAWN_NOTE] : key === 'remote' ? (micro.remote?.notes ?? []) : (workload?.notes ?? []).map((n) => `(${key}) ${n}`),
        };
        return [key, rows];
      }),
    ),
  };
  const merged = mergeResults(readResults(cfg.resultsFile), current, ran);
  const { notes: sectionNotes, extras } = textOf(merged);
  const md = resultsMarkdown({
    env,
    cfg,
    results: resultsTableOf(rowsOf(merged, 'workloads'), tools),
    micro: microTableOf(rowsOf(merged, 'micro')),
    targets: targetsTableOf(rowsOf(merged, 'targets')),
    notes: [...STATIC_NOTES, ...sectionNotes],
    warnings,
    kept: keptLines(merged, ran),
    extras,
    data: dataBlock(merged),
  });
  writeFileSync(cfg.resultsFile, md);
  process.stdout.write(`Wrote ${path.relative(cfg.root, cfg.resultsFile)} (${(env.wallMs / 60000).toFixed(1)} min).\n`);
  removeWorkDir(cfg);
}

main().catch((error: unknown) => {
  if (stopping) return; // interrupted: the signal handler stops children, cleans up and exits
  log(`bench: error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  killActiveChildren('SIGKILL');
  try {
    removeWorkDir(loadConfig());
  } catch {
    // Best effort.
  }
  process.exitCode = 1;
});
