import { randomInt } from 'node:crypto';
import { ActionCache } from '../cas/action-cache.js';
import type { EventBus, Reporter } from '../events/bus.js';
import { eventTime, type RunEvent } from '../events/events.js';
import type { TaskGraph } from '../graph/types.js';
import type { TaskKey } from '../hash/digest.js';
import { candidateFor, type ReproCandidate } from './repro-candidates.js';
import { checkReproducible, describeVerdictProblem, type ReproOptions } from './verify-repro.js';

/*
 * `--check-repro RATE`: after a successful run, a random fraction of this run's cache hits is
 * executed again in scratch directories (verify-repro.ts) and compared with the cache.
 */

/** Subscribes to a run's events and remembers every task's key and which tasks were cache hits. */
export class RunKeyCollector implements Reporter {
  readonly keys = new Map<string, TaskKey>();
  readonly hits: string[] = [];

  onEvent(e: RunEvent): void {
    if (e.type !== 'task-finished' || e.key === undefined) return;
    this.keys.set(e.task, e.key as TaskKey);
    if (e.status === 'cached') this.hits.push(e.task);
  }
}

/** What `--check-repro` found. */
export interface CheckReproOutcome {
  readonly checked: number;
  /** Tasks that did not reproduce or whose re-execution failed; each was reported as a warning. */
  readonly notReproducible: number;
}

/**
 * Picks `round(rate × hits)` of the run's cache hits at random (at least one when there are
 * hits), re-executes them and emits one `warning` event per task that does not
 * reproduce, naming the task and the differing outputs.
 */
export async function checkReproAfterRun(
  req: Omit<ReproOptions, 'runs'> & {
    readonly graph: TaskGraph;
    readonly rate: number;
    readonly collected: RunKeyCollector;
    readonly bus: EventBus;
    /** Random integer in [0, n) (tests may pass a fixed one). */
    readonly randomBelow?: (n: number) => number;
  },
): Promise<CheckReproOutcome> {
  const hits = req.collected.hits;
  if (req.rate <= 0 || hits.length === 0) return { checked: 0, notReproducible: 0 };
  const count = Math.min(hits.length, Math.max(1, Math.round(req.rate * hits.length)));
  const picked = sample(hits, count, req.randomBelow ?? ((n) => randomInt(n)));
  const actions = new ActionCache(req.cacheDir);
  const candidates: ReproCandidate[] = [];
  for (const task of picked) {
    const found = await candidateFor(req.graph, task, req.collected.keys, actions);
    if (found.ok) candidates.push(found.value);
    else req.bus.emit({ type: 'warning', time: eventTime(), task, message: `--check-repro: cannot check task "${task}": ${found.reason}` });
  }
  let notReproducible = 0;
  await checkReproducible(candidates, { ...req, runs: 1 }, (v) => {
    const problem = describeVerdictProblem(v);
    if (problem === undefined) return;
    notReproducible += 1;
    const what = v.status === 'failed' ? 'could not be re-executed' : 'is NOT reproducible';
    req.bus.emit({ type: 'warning', time: eventTime(), task: v.task, message: `--check-repro: task "${v.task}" ${what}: ${problem}` });
  });
  return { checked: candidates.length, notReproducible };
}

/** `count` distinct elements of `items` in their original order, chosen uniformly. */
function sample<T>(items: readonly T[], count: number, randomBelow: (n: number) => number): T[] {
  const idx = items.map((_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + randomBelow(idx.length - i);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => items[i]!);
}
