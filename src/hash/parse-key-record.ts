import { isHexDigest, type FileDigest, type ResultHash } from './digest.js';
import { KEY_FORMAT_VERSION, type KeyDependency, type KeyEnv, type KeyInput, type KeyRecord } from './task-key.js';

/*
 * An action record stores its key record as opaque JSON (the action cache does not know its
 * shape). Before `explain` compares it, it is checked here: a record that does not have the
 * shape of its own format version cannot be compared and counts as corrupt.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDigest = (v: unknown): v is string => typeof v === 'string' && isHexDigest(v);

function listOf<T>(v: unknown, item: (x: Record<string, unknown>) => T | undefined): T[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: T[] = [];
  for (const x of v as unknown[]) {
    const parsed = isObject(x) ? item(x) : undefined;
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
}

const input = (x: Record<string, unknown>): KeyInput | undefined =>
  typeof x['path'] === 'string' && isDigest(x['digest']) && typeof x['executable'] === 'boolean'
    ? { path: x['path'], digest: x['digest'] as FileDigest, executable: x['executable'] }
    : undefined;

const dependency = (x: Record<string, unknown>): KeyDependency | undefined =>
  typeof x['task'] === 'string' && isDigest(x['result']) ? { task: x['task'], result: x['result'] as ResultHash } : undefined;

/** Env values are stored as digests only; a record with a plain value is malformed. */
const ENV_DIGEST = /^sha256:[0-9a-f]{64}$/;
const envEntry = (x: Record<string, unknown>): KeyEnv | undefined =>
  typeof x['name'] === 'string' && ((typeof x['value'] === 'string' && ENV_DIGEST.test(x['value'])) || x['value'] === null)
    ? { name: x['name'], value: x['value'] }
    : undefined;

/**
 * The key record stored in an action record, or undefined when it is malformed. A record of
 * another format version needs only its `version` (explainKeyChange compares nothing else
 * across versions); its other fields are then left empty.
 */
export function parseKeyRecord(v: unknown): KeyRecord | undefined {
  if (!isObject(v) || !Number.isSafeInteger(v['version'])) return undefined;
  const version = v['version'] as number;
  if (version !== KEY_FORMAT_VERSION) return { version, cmd: '', inputs: [], deps: [], outputs: [], env: [] };
  const cmd = v['cmd'];
  const inputs = listOf(v['inputs'], input);
  const deps = listOf(v['deps'], dependency);
  const env = listOf(v['env'], envEntry);
  const outputs = v['outputs'];
  if (typeof cmd !== 'string' || !inputs || !deps || !env) return undefined;
  if (!Array.isArray(outputs) || !(outputs as unknown[]).every((o) => typeof o === 'string')) return undefined;
  return { version, cmd, inputs, deps, outputs: outputs as string[], env };
}
