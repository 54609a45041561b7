import type { ActionCache } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { RemoteTier } from '../cache/tiered-cache.js';
import type { EventBus } from '../events/bus.js';
import { eventTime } from '../events/events.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash } from '../hash/digest.js';
import type { FileHasher } from '../hash/file-hasher.js';
import type { WorkspaceStateData } from '../state/workspace-state.js';
import type { PreviousRecords } from './explain-task.js';
import type { HermeticityMonitor } from './hermeticity.js';
import type { ProcessGroups, ProcessResult } from './process-runner.js';
import type { PrioritySlots } from './priority-slots.js';
import type { TokenBucket } from './token-bucket.js';

/** Everything one run shares between its tasks. */
export interface RunContext {
  readonly workspace: string;
  readonly graph: TaskGraph;
  readonly store: ObjectStore;
  readonly actions: ActionCache;
  readonly hasher: FileHasher;
  readonly state: WorkspaceStateData;
  readonly bus: EventBus;
  readonly slots: PrioritySlots;
  readonly bucket: TokenBucket;
  readonly groups: ProcessGroups;
  readonly env: NodeJS.ProcessEnv;
  readonly force: boolean;
  readonly defaultTimeoutMs: number | undefined;
  readonly killGraceMs: number;
  readonly retryBaseMs: number;
  /** Retries of a task whose manifest entry sets none (`[execution] retry_attempts`). */
  readonly defaultRetries: number;
  /** Output files and logs up to this size go inside the action record instead of the store. */
  readonly inlineMax: number;
  readonly interrupt: AbortSignal;
  readonly priority: ReadonlyMap<string, number>;
  /** Result hash of every task that succeeded (or was restored) in this run. */
  readonly results: Map<string, ResultHash>;
  /** Time saved by cache hits, summed. */
  savedMs: number;
  /**
   * Whether reporters show output while a task runs. When nobody does (-q), commands write to
   * files in `captureDir` (cheaper than pipes) and their lines are emitted when they finish.
   */
  readonly liveOutput: boolean;
  readonly captureDir: string;
  /** The pass-through variables every command gets (see task-env.ts). */
  readonly baseEnv: Readonly<Record<string, string>>;
  /** Set when `state` changed: a no-op run then does not rewrite the state file. */
  stateDirty: boolean;
  /** With `run --explain`: where a task that misses the cache finds its previous key record. */
  readonly explain?: PreviousRecords;
  /** With `run --strict`: watches the workspace around every command (hermeticity.ts). */
  readonly hermeticity?: HermeticityMonitor;
  /** With a remote cache (`--remote`): asked after a local miss; finished tasks are uploaded to it. */
  readonly remote?: RemoteTier;
  /**
   * With a remote cache: how far remote lookups may run ahead of execution. A task holds one of
   * these from its remote lookup until it has finished (restored or executed), so lookups are
   * made shortly before a task can start, highest priority first, instead of all at once when
   * the run begins: on a cold build the request work then overlaps the commands instead of
   * delaying the second wave, and a remote that dies mid-run is asked far fewer times.
   */
  readonly remoteAhead?: PrioritySlots;
}

/** Task output as `task-output` events, one per line (captured after the fact, or replayed from the cache). */
export function emitCaptured(ctx: RunContext, task: string, result: ProcessResult, replay: boolean): void {
  emitLines(ctx, task, 'stdout', result.stdout, replay);
  emitLines(ctx, task, 'stderr', result.stderr, replay);
}

export function emitLines(ctx: RunContext, task: string, stream: 'stdout' | 'stderr', bytes: Buffer, replay: boolean): void {
  if (bytes.length === 0) return;
  const text = bytes.toString('utf8');
  const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
  for (const line of lines) {
    ctx.bus.emit({ type: 'task-output', time: eventTime(), task, stream, line: line.endsWith('\r') ? line.slice(0, -1) : line, replay });
  }
}

/** A warning about one task (cache trouble that does not fail it). */
export function warn(ctx: RunContext, task: string, message: string): void {
  ctx.bus.emit({ type: 'warning', time: eventTime(), task, message });
}
