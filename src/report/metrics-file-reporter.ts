/**
 * `--metrics FILE`: the run's metrics as one JSON object, written (temp + rename) when the
 * run ends. Shape (version 1; fields are only ever added):
 *
 *   { version, runId, workspace, startedAt, finishedAt, exitCode, interrupted,
 *     tasks: { total, executed, cached, failed, skipped },
 *     hitRate,                      cached / (executed + cached), null when both are 0
 *     durations: { wallMs, savedMs, executedMs (sum over executed tasks), slowest: [{task, durationMs}] (5) },
 *     bytes: { restored (written into the workspace by cache hits),
 *              stored (uncompressed size of the executed tasks' output files, stored in the cache) },
 *     memory: { peakRssBytes }      peak resident set size of the reprovm process itself
 *   }
 *
 * No task output, command or environment value is in it, so nothing secret can leak into it.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../events/bus.js';
import type { RunEvent, RunSummary, TaskOutputRef } from '../events/events.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/** Collects a run's metrics and writes them to `file` on close. */
export class MetricsFileReporter implements Reporter {
  readonly #file: string;
  #runId = '';
  #workspace = '';
  #startedAt = '';
  #finished: { time: string; exitCode: number; summary: RunSummary } | undefined;
  readonly #durations: { task: string; durationMs: number }[] = [];
  readonly #storedOutputs: TaskOutputRef[] = [];
  #bytesRestored = 0;

  constructor(file: string) {
    this.#file = file;
  }

  onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-started':
        this.#runId = e.runId;
        this.#workspace = e.workspace;
        this.#startedAt = e.time;
        break;
      case 'task-finished':
        if (e.status === 'executed') {
          this.#durations.push({ task: e.task, durationMs: e.durationMs });
          if (e.cache?.result !== 'miss' || e.cache.reason !== 'cache-disabled') this.#storedOutputs.push(...(e.outputs ?? []));
        }
        if (e.status === 'cached' && e.cache?.result === 'hit') this.#bytesRestored += e.cache.bytesRestored;
        break;
      case 'run-finished':
        this.#finished = { time: e.time, exitCode: e.exitCode, summary: e.summary };
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    const f = this.#finished;
    if (f === undefined) return; // the run never finished (usage error before it started)
    const s = f.summary;
    let stored = 0;
    for (const o of this.#storedOutputs) {
      if (o.kind === 'file') stored += statSync(path.join(this.#workspace, o.path), { throwIfNoEntry: false })?.size ?? 0;
    }
    const metrics = {
      version: 1,
      runId: this.#runId,
      workspace: this.#workspace,
      startedAt: this.#startedAt,
      finishedAt: f.time,
      exitCode: f.exitCode,
      interrupted: s.interrupted,
      tasks: { total: s.total, executed: s.executed, cached: s.cached, failed: s.failed, skipped: s.skipped },
      hitRate: s.executed + s.cached === 0 ? null : s.cached / (s.executed + s.cached),
      durations: {
        wallMs: s.wallMs,
        savedMs: s.savedMs,
        executedMs: this.#durations.reduce((a, d) => a + d.durationMs, 0),
        slowest: [...this.#durations].sort((a, b) => b.durationMs - a.durationMs).slice(0, 5),
      },
      bytes: { restored: this.#bytesRestored, stored },
      memory: { peakRssBytes: process.resourceUsage().maxRSS * 1024 },
    };
    await writeFileAtomic(this.#file, `${JSON.stringify(metrics, null, 2)}\n`);
  }
}
