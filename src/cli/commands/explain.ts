import { planTasks } from '../../exec/plan.js';
import { explainJson, explainText } from '../../report/explain-report.js';
import { openWorkspace } from '../open-workspace.js';
import type { CliIo } from './run.js';

/** Options of `reprovm explain` as commander parses them. */
export interface ExplainOptions {
  cacheDir?: string;
  json?: boolean;
  allowAbsoluteInputs?: boolean;
  color: boolean;
}

/**
 * `reprovm explain <manifest> [task...]`: for each named task (default: all) whether a run
 * would execute it, restore it or find it up to date, and why, down to which input, env
 * variable or dependency changed since its previous record. Runs no command, takes no lock and
 * writes nothing (the graph cache and the stat memo are not saved, corrupt records are not
 * quarantined); dependencies of the named tasks are evaluated but not reported. Exit code 0.
 */
export async function explainCommandLine(manifestFile: string, tasks: string[], opts: ExplainOptions, io: CliIo): Promise<number> {
  const { style, graph, selected, workspace, cacheDir } = await openWorkspace(manifestFile, tasks, { ...opts, readOnly: true }, io);
  const wanted = tasks.length > 0 ? new Set(tasks) : undefined;
  await planTasks({ workspace, graph, selected, cacheDir, force: false, env: io.env }, (plan) => {
    if (wanted && !wanted.has(plan.task)) return;
    io.stdout.write(opts.json ? explainJson(plan) : explainText(plan, style));
  });
  return 0;
}
