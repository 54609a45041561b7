import type { ActionCache, ActionRecord } from '../cas/action-cache.js';
import type { MissReason } from '../events/events.js';
import type { TaskKey } from '../hash/digest.js';
import { explainKeyChange, summarizeReasons, type ExplainReason } from '../hash/explain.js';
import { parseKeyRecord } from '../hash/parse-key-record.js';
import type { KeyRecord } from '../hash/task-key.js';

/** The most recent key record of a task, if one can be found. */
export type PreviousRecord =
  | { readonly kind: 'found'; readonly key: TaskKey; readonly record: KeyRecord }
  | { readonly kind: 'none' }
  | { readonly kind: 'corrupt' };

/**
 * Finds the key record a task's current one is compared with: the action record of its last
 * success in this workspace (the state file's key) when that record is readable; otherwise
 * the newest record (by `createdAt`) in the cache whose `task` is the same name. The cache is
 * scanned at most once, on first need, so runs and dry runs that never ask pay nothing.
 * Read-only: a corrupt record is reported, never quarantined.
 */
export class PreviousRecords {
  readonly #actions: ActionCache;
  readonly #lastKey: (task: string) => TaskKey | undefined;
  #newest: Promise<Map<string, ActionRecord>> | undefined;

  /** `lastKey`: the key of a task's last success in this workspace (state.tasks[name].key). */
  constructor(actions: ActionCache, lastKey: (task: string) => TaskKey | undefined) {
    this.#actions = actions;
    this.#lastKey = lastKey;
  }

  /** The previous record of `task`. */
  async find(task: string): Promise<PreviousRecord> {
    const last = this.#lastKey(task);
    if (last !== undefined) {
      const got = await this.#actions.get(last, { quarantine: false });
      if (got.kind === 'corrupt') return { kind: 'corrupt' };
      if (got.kind === 'hit') return fromAction(got.record);
    }
    const newest = (await (this.#newest ??= this.#scan())).get(task);
    return newest ? fromAction(newest) : { kind: 'none' };
  }

  async #scan(): Promise<Map<string, ActionRecord>> {
    const newest = new Map<string, ActionRecord>();
    for await (const key of this.#actions.list()) {
      const got = await this.#actions.get(key, { quarantine: false }).catch(() => undefined);
      if (got?.kind !== 'hit') continue; // a corrupt record cannot say whose it is
      const seen = newest.get(got.record.task);
      if (!seen || Date.parse(got.record.createdAt) > Date.parse(seen.createdAt)) newest.set(got.record.task, got.record);
    }
    return newest;
  }
}

function fromAction(r: ActionRecord): PreviousRecord {
  const record = parseKeyRecord(r.keyRecord);
  return record ? { kind: 'found', key: r.key, record } : { kind: 'corrupt' };
}

/**
 * Why a task with key record `current` has no cached result: what changed since its previous
 * record (or that there is none, or that it is corrupt).
 */
export async function reasonsSincePrevious(previous: PreviousRecords, task: string, current: KeyRecord): Promise<ExplainReason[]> {
  const prev = await previous.find(task);
  if (prev.kind === 'corrupt') return [{ kind: 'record-corrupt' }];
  const changes = explainKeyChange(prev.kind === 'found' ? prev.record : undefined, current);
  return changes.length > 0 ? changes : [{ kind: 'no-record-for-key' }];
}

/**
 * Why a task restored from the cache was not simply up to date: its outputs in the workspace
 * changed (same key as its last success), or what changed since its previous record.
 */
export async function reasonsForRestore(
  previous: PreviousRecords,
  task: string,
  key: TaskKey,
  current: KeyRecord,
  lastKey: TaskKey | undefined,
): Promise<ExplainReason[]> {
  if (lastKey === key) return [{ kind: 'cache-hit' }, { kind: 'outputs-modified' }];
  const prev = await previous.find(task);
  const changes = prev.kind === 'found' && prev.key !== key ? explainKeyChange(prev.record, current) : [];
  return [{ kind: 'cache-hit' }, ...changes];
}

/** Why a real run executes a task, from the reason its cache lookup missed. */
export async function reasonsForMiss(previous: PreviousRecords, task: string, current: KeyRecord, miss: MissReason): Promise<ExplainReason[]> {
  switch (miss) {
    case 'forced':
      return [{ kind: 'forced' }];
    case 'cache-disabled':
      return [{ kind: 'cache-disabled' }];
    case 'corrupt':
    case 'signature': // a remote record failed its signature check: as good as corrupt
      return [{ kind: 'record-corrupt' }];
    case 'error':
    case 'remote-error': // local miss and the remote could not be asked
      return [{ kind: 'cache-error' }];
    case 'no-record':
      return reasonsSincePrevious(previous, task, current);
  }
}

/**
 * `run --explain`'s one-liner for a task that missed the cache (`input a.c changed, +1 more`);
 * undefined, at no cost, when the option is off (no `previous`).
 */
export async function explainMiss(
  previous: PreviousRecords | undefined,
  task: string,
  current: KeyRecord,
  miss: MissReason,
): Promise<string | undefined> {
  return previous ? summarizeReasons(await reasonsForMiss(previous, task, current, miss)) : undefined;
}
