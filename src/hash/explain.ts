/**
 * Why a task would run (or not): the difference between the key record of its most recent
 * result and the one it has now, as typed reasons, plus the lines a person reads.
 *
 * Pure: no I/O. Finding the previous record is the caller's job (src/exec/explain-task.ts).
 * Env values are in key records but never in a reason: a reason names the variable only, so
 * neither the text nor the `--json` form of `explain` can leak a secret.
 */
import { unreachable } from '../errors/result.js';
import type { FileDigest } from './digest.js';
import type { KeyRecord } from './task-key.js';

/** A difference between two key records. */
export type KeyChange =
  | { readonly kind: 'key-format-changed'; readonly from: number; readonly to: number }
  | { readonly kind: 'command-changed'; readonly from: string; readonly to: string }
  | { readonly kind: 'input-changed'; readonly path: string; readonly from: FileDigest; readonly to: FileDigest }
  | { readonly kind: 'input-added'; readonly path: string }
  | { readonly kind: 'input-removed'; readonly path: string }
  | { readonly kind: 'input-mode-changed'; readonly path: string; readonly executable: boolean }
  | { readonly kind: 'env-changed'; readonly name: string }
  | { readonly kind: 'env-added'; readonly name: string }
  | { readonly kind: 'env-removed'; readonly name: string }
  | { readonly kind: 'dependency-changed'; readonly task: string }
  | { readonly kind: 'dependency-added'; readonly task: string }
  | { readonly kind: 'dependency-removed'; readonly task: string }
  | { readonly kind: 'outputs-changed'; readonly from: readonly string[]; readonly to: readonly string[] };

/**
 * Why a task would run, be restored or is up to date: a key difference, or the situation
 * that decided it (no previous record, a corrupt record, a dependency that must run first…).
 * Discriminated by `kind`; the fields are part of `explain --json`.
 */
export type ExplainReason =
  | KeyChange
  | { readonly kind: 'no-previous-record' }
  | { readonly kind: 'record-corrupt' }
  | { readonly kind: 'no-record-for-key' }
  | { readonly kind: 'dependency-will-run'; readonly task: string }
  | { readonly kind: 'key-unavailable'; readonly message: string }
  | { readonly kind: 'forced' }
  | { readonly kind: 'cache-disabled' }
  | { readonly kind: 'cache-error' }
  | { readonly kind: 'up-to-date' }
  | { readonly kind: 'cache-hit' }
  | { readonly kind: 'outputs-modified' };

/** The `kind` of every reason. */
export type ExplainReasonKind = ExplainReason['kind'];

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Entries of two lists keyed by name, in name order: [name, previous, current]. */
function pairs<T>(prev: readonly T[], cur: readonly T[], name: (t: T) => string): [string, T | undefined, T | undefined][] {
  const a = new Map(prev.map((t) => [name(t), t]));
  const b = new Map(cur.map((t) => [name(t), t]));
  const names = [...new Set([...a.keys(), ...b.keys()])].sort(byString);
  return names.map((n) => [n, a.get(n), b.get(n)]);
}

/**
 * What differs between the key record of the previous result and the current one, in a fixed
 * order: command, inputs, env, dependencies, declared outputs (each by name). No previous
 * record gives `no-previous-record`; a different key format gives only `key-format-changed`,
 * since the other fields of another format cannot be compared. Equal records give `[]`.
 */
export function explainKeyChange(previous: KeyRecord | undefined, current: KeyRecord): ExplainReason[] {
  if (previous === undefined) return [{ kind: 'no-previous-record' }];
  if (previous.version !== current.version) return [{ kind: 'key-format-changed', from: previous.version, to: current.version }];
  const out: ExplainReason[] = [];
  if (previous.cmd !== current.cmd) out.push({ kind: 'command-changed', from: previous.cmd, to: current.cmd });
  for (const [path, a, b] of pairs(previous.inputs, current.inputs, (i) => i.path)) {
    if (!a) out.push({ kind: 'input-added', path });
    else if (!b) out.push({ kind: 'input-removed', path });
    else {
      if (a.digest !== b.digest) out.push({ kind: 'input-changed', path, from: a.digest, to: b.digest });
      if (a.executable !== b.executable) out.push({ kind: 'input-mode-changed', path, executable: b.executable });
    }
  }
  for (const [name, a, b] of pairs(previous.env, current.env, (e) => e.name)) {
    if (!a) out.push({ kind: 'env-added', name });
    else if (!b) out.push({ kind: 'env-removed', name });
    else if (a.value !== b.value) out.push({ kind: 'env-changed', name }); // null (unset) !== '' (empty)
  }
  for (const [task, a, b] of pairs(previous.deps, current.deps, (d) => d.task)) {
    if (!a) out.push({ kind: 'dependency-added', task });
    else if (!b) out.push({ kind: 'dependency-removed', task });
    else if (a.result !== b.result) out.push({ kind: 'dependency-changed', task });
  }
  const sameOutputs = previous.outputs.length === current.outputs.length && previous.outputs.every((o, i) => o === current.outputs[i]);
  if (!sameOutputs) out.push({ kind: 'outputs-changed', from: previous.outputs, to: current.outputs });
  return out;
}

const short = (digest: string): string => `${digest.slice(0, 8)}…`;

/**
 * The text of a reason. `command changed` is followed by a two-line diff (`  - old`,
 * `  + new`); every other reason is one line.
 */
export function renderReason(r: ExplainReason): string {
  switch (r.kind) {
    case 'command-changed':
      return `command changed\n  - ${r.from}\n  + ${r.to}`;
    case 'input-changed':
      return `input ${r.path} changed (digest ${short(r.from)}→${short(r.to)})`;
    default:
      return renderReasonShort(r);
  }
}

/** A reason in one short line: the first line of {@link renderReason}, without digests. */
export function renderReasonShort(r: ExplainReason): string {
  switch (r.kind) {
    case 'key-format-changed':
      return 'key format changed';
    case 'command-changed':
      return 'command changed';
    case 'input-changed':
      return `input ${r.path} changed`;
    case 'input-added':
      return `input ${r.path} added`;
    case 'input-removed':
      return `input ${r.path} removed`;
    case 'input-mode-changed':
      return `input ${r.path} ${r.executable ? 'became executable' : 'stopped being executable'}`;
    case 'env-changed':
      return `env ${r.name} changed`;
    case 'env-added':
      return `env ${r.name} added`;
    case 'env-removed':
      return `env ${r.name} removed`;
    case 'dependency-changed':
      return `dependency ${r.task} produced different output`;
    case 'dependency-added':
      return `dependency ${r.task} added`;
    case 'dependency-removed':
      return `dependency ${r.task} removed`;
    case 'outputs-changed':
      return 'declared outputs changed';
    case 'no-previous-record':
      return 'no previous record';
    case 'record-corrupt':
      return 'record found but corrupt';
    case 'no-record-for-key':
      return 'no cached result for this key';
    case 'dependency-will-run':
      return `dependency "${r.task}" will run`;
    case 'key-unavailable':
      return r.message;
    case 'forced':
      return 'forced (--force)';
    case 'cache-disabled':
      return 'caching is disabled for this task (cache = false)';
    case 'cache-error':
      return 'the cache could not be read';
    case 'up-to-date':
      return 'outputs match the cached result';
    case 'cache-hit':
      return 'cached result found for this key';
    case 'outputs-modified':
      return 'outputs in the workspace differ from the cached result';
    default:
      return unreachable(r);
  }
}

/** `run --explain`'s one-liner: the first reason, short, and how many more there are. */
export function summarizeReasons(reasons: readonly ExplainReason[]): string | undefined {
  const [first] = reasons;
  if (first === undefined) return undefined;
  return reasons.length > 1 ? `${renderReasonShort(first)}, +${reasons.length - 1} more` : renderReasonShort(first);
}
