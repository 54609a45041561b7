import { createHash } from 'node:crypto';
import type { FileDigest, ResultHash, TaskKey } from './digest.js';

/**
 * The task key record: everything that can change a task's outputs, and nothing that cannot.
 * It is stored in the action record, so `explain` can diff the record of the last run against
 * the current one. It never contains absolute paths of the checkout (inputs are
 * workspace-relative), so two checkouts on different machines compute the same keys.
 *
 * Bump KEY_FORMAT_VERSION whenever the record or its encoding changes: old entries then
 * simply stop matching instead of being misread.
 */
export const KEY_FORMAT_VERSION = 2;

export interface KeyInput {
  readonly path: string;
  readonly digest: FileDigest;
  readonly executable: boolean;
}

export interface KeyDependency {
  readonly task: string;
  readonly result: ResultHash;
}

export interface KeyEnv {
  readonly name: string;
  /**
   * `sha256:<hex>` of the value ({@link envValueDigest}), or null when unset (different from
   * the empty string). Never the value itself: key records are uploaded to shared remote
   * caches, and declared variables are often secrets (format version 2 and later).
   */
  readonly value: string | null;
}

/** What a key record stores for an env value: its SHA-256, never the value; null for unset. */
export function envValueDigest(value: string | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

export interface KeyRecord {
  readonly version: number;
  readonly cmd: string;
  readonly inputs: readonly KeyInput[];
  readonly deps: readonly KeyDependency[];
  readonly outputs: readonly string[];
  readonly env: readonly KeyEnv[];
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Builds a record with every list in canonical (sorted, code-unit) order. */
/**
 * The key record of a manifest task: its command, outputs and declared env (values hashed) plus
 * the inputs and dependency results the caller gathered. Used by runs and by `cache push/pull`.
 */
export function taskKeyRecord(
  spec: { readonly cmd: { readonly value: string }; readonly outputs: readonly { readonly value: string }[]; readonly env: readonly { readonly value: string }[] },
  inputs: readonly KeyInput[],
  deps: readonly KeyDependency[],
  env: NodeJS.ProcessEnv,
): KeyRecord {
  return makeKeyRecord({
    cmd: spec.cmd.value,
    inputs,
    deps,
    outputs: spec.outputs.map((o) => o.value),
    env: spec.env.map((e) => ({ name: e.value, value: envValueDigest(env[e.value]) })),
  });
}

export function makeKeyRecord(parts: {
  cmd: string;
  inputs: readonly KeyInput[];
  deps: readonly KeyDependency[];
  outputs: readonly string[];
  env: readonly KeyEnv[];
}): KeyRecord {
  return {
    version: KEY_FORMAT_VERSION,
    cmd: parts.cmd,
    inputs: [...parts.inputs].sort((a, b) => byString(a.path, b.path)),
    deps: [...parts.deps].sort((a, b) => byString(a.task, b.task)),
    outputs: [...parts.outputs].sort(byString),
    env: [...parts.env].sort((a, b) => byString(a.name, b.name)),
  };
}

/**
 * Canonical encoding: a JSON array with a fixed shape (no objects, so no key-order
 * ambiguity), prefixed with a domain tag so a key can never collide with another hash
 * of the same bytes.
 */
export function encodeKeyRecord(record: KeyRecord): string {
  return JSON.stringify([
    'reprovm-task-key',
    record.version,
    record.cmd,
    record.inputs.map((i) => [i.path, i.digest, i.executable ? 1 : 0]),
    record.deps.map((d) => [d.task, d.result]),
    record.outputs,
    record.env.map((e) => [e.name, e.value]),
  ]);
}

export function computeTaskKey(record: KeyRecord): TaskKey {
  return createHash('sha256').update(encodeKeyRecord(record)).digest('hex') as TaskKey;
}

/** The part of an output that identifies the task's result. */
export interface ResultEntry {
  readonly path: string;
  readonly kind: 'file' | 'symlink' | 'dir';
  readonly digest?: string | undefined;
  readonly mode?: number | undefined;
  readonly target?: string | undefined;
}

/** Result hash = SHA-256 over the sorted (path, kind, digest or link target, mode) of every output. */
export function computeResultHash(outputs: readonly ResultEntry[]): ResultHash {
  const rows = [...outputs]
    .sort((a, b) => byString(a.path, b.path))
    .map((o) => [o.path, o.kind, o.kind === 'symlink' ? (o.target ?? '') : (o.digest ?? ''), o.mode ?? 0]);
  return createHash('sha256').update(JSON.stringify(['reprovm-result', 1, rows])).digest('hex') as ResultHash;
}
