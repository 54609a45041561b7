import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActionCache, type ActionRecord } from '../../src/cas/action-cache.js';
import { ObjectStore } from '../../src/cas/object-store.js';
import type { FileDigest, ResultHash, TaskKey } from '../../src/hash/digest.js';
import { computeTaskKey, makeKeyRecord } from '../../src/hash/task-key.js';

/** A local cache (object store + action cache) in a temp dir. */
export interface LocalCache {
  readonly dir: string;
  readonly store: ObjectStore;
  readonly actions: ActionCache;
  cleanup(): void;
}

export async function localCache(): Promise<LocalCache> {
  const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-remote-unit-'));
  const store = new ObjectStore(dir, { codec: 'zstd', level: 3 });
  await store.init();
  return { dir, store, actions: new ActionCache(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Stores `contents` as outputs of a record for `task` (a real key record for `make <task>`, hashing to the key). */
export async function recordWith(local: LocalCache, task: string, contents: readonly (string | Buffer)[]): Promise<ActionRecord> {
  const outputs = [];
  for (const [i, c] of contents.entries()) {
    const put = await local.store.putBuffer(Buffer.isBuffer(c) ? c : Buffer.from(c));
    if (!put.ok) throw new Error(put.error.message);
    outputs.push({ path: `out/${task}-${i}.txt`, kind: 'file' as const, digest: put.value.digest, size: put.value.size, mode: 0o644 });
  }
  const { createHash } = await import('node:crypto');
  const keyRecord = makeKeyRecord({ cmd: `make ${task}`, inputs: [], deps: [], outputs: outputs.map((o) => o.path), env: [] });
  const key: TaskKey = computeTaskKey(keyRecord);
  const record: ActionRecord = {
    version: 1,
    task,
    key,
    keyRecord,
    resultHash: createHash('sha256').update(`result ${task}`).digest('hex') as ResultHash,
    outputs,
    exitCode: 0,
    durationMs: 100,
    createdAt: new Date(0).toISOString(),
  };
  await local.actions.put(record);
  return record;
}

/** Every object digest in a local store. */
export async function objectsIn(store: ObjectStore): Promise<FileDigest[]> {
  const all: FileDigest[] = [];
  for await (const d of store.list()) all.push(d);
  return all;
}

/** Files left in `<cache>/cas/tmp`. */
export function tempsIn(dir: string): string[] {
  return readdirSync(path.join(dir, 'cas', 'tmp'));
}
