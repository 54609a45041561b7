import { ProcessGroups, signalExitCode } from '../../exec/process-runner.js';
import { findCachedTasks, type ReproCandidate } from '../../exec/repro-candidates.js';
import { checkReproducible, type ReproVerdict } from '../../exec/verify-repro.js';
import { countVerdict, emptyReproCounts, reproJson, reproSummary, reproText } from '../../report/repro-report.js';
import { openWorkspace } from '../open-workspace.js';
import type { CliIo } from './run.js';

/** Options of `reprovm verify-repro` as commander parses them. */
export interface VerifyReproOptions {
  runs: number;
  jobs?: number;
  cacheDir?: string;
  json?: boolean;
  allowAbsoluteInputs?: boolean;
  color: boolean;
}

/**
 * `reprovm verify-repro <manifest> [task...]`: executes the named cached tasks (default: all)
 * again, `--runs` times each, in scratch directories, and compares their outputs with the
 * cache. Exit 0 when every checked task reproduced, 1 when one did not or failed. The
 * workspace, its state and the cache are only read; no lock is taken.
 */
export async function verifyReproCommandLine(manifestFile: string, tasks: string[], opts: VerifyReproOptions, io: CliIo): Promise<number> {
  const { style, graph, selected, workspace, cacheDir } = await openWorkspace(manifestFile, tasks, { ...opts, readOnly: true }, io);
  const wanted = tasks.length > 0 ? new Set(tasks) : undefined;

  const interrupt = new AbortController();
  const groups = new ProcessGroups();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) groups.killAll('SIGKILL');
    signalled = signal;
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const counts = emptyReproCounts();
    const report = (v: ReproVerdict): void => {
      countVerdict(counts, v);
      io.stdout.write(opts.json ? reproJson(v) : reproText(v, style));
    };
    // Dependencies of the named tasks are needed for their keys, but are neither checked nor reported.
    const found = (await findCachedTasks({ workspace, graph, selected, cacheDir, env: io.env })).filter((f) => !wanted || wanted.has(f.task));
    // Verdicts are printed in topological order, skipped tasks among the checked ones.
    const ready = new Map<string, ReproVerdict>();
    let next = 0;
    const flush = (): void => {
      for (let v = ready.get(found[next]?.task ?? ''); v !== undefined; v = ready.get(found[next]?.task ?? '')) {
        report(v);
        next += 1;
      }
    };
    const candidates: ReproCandidate[] = [];
    for (const f of found) {
      if (f.kind === 'candidate') candidates.push(f.candidate);
      else ready.set(f.task, { task: f.task, status: 'not-cached', reason: f.reason });
    }
    flush();
    await checkReproducible(
      candidates,
      { workspace, cacheDir, env: io.env, runs: opts.runs, jobs: opts.jobs ?? io.cpus, interrupt: interrupt.signal, groups },
      (v) => {
        ready.set(v.task, v);
        flush();
      },
    );
    if (!opts.json) io.stdout.write(reproSummary(counts, style));
    if (signalled) return signalExitCode(signalled);
    return counts.notReproducible > 0 || counts.failed > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
