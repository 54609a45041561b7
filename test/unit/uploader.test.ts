import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { Uploader } from '../../src/cache/uploader.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import type { BlobStore } from '../../src/remote/blob-store.js';
import { localCache, recordWith, type LocalCache } from '../helpers/remote-fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(): Promise<LocalCache> {
  const l = await localCache();
  cleanups.push(l.cleanup);
  return l;
}

/** The guard the tier uses, minus breaker and warnings: failures become { ok: false }. */
async function guard<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  try {
    return { ok: true, value: await fn(new AbortController().signal) };
  } catch {
    return { ok: false };
  }
}

function uploader(remote: BlobStore, local: LocalCache, concurrency = 4): Uploader {
  return new Uploader({ remote, local: local.store, concurrency, encodeRecord: (r) => Buffer.from(JSON.stringify(r)), guard });
}

test('uploads every blob byte-identical to the local object, then the record', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const rec = await recordWith(local, 'a', ['one', Buffer.alloc(3 << 20, 7)]);
  const up = uploader(remote, local);
  up.enqueue(rec);
  const p = await up.flush();
  assert.equal(p.recordsUploaded, 1);
  assert.equal(p.blobsUploaded, 2);
  for (const o of rec.outputs) {
    assert.deepEqual(remote.peek(`cas/${o.digest}`), readFileSync(local.store.objectPath(o.digest!)));
  }
  assert.ok(remote.peek(`ac/${rec.key}.json`));
});

test('present blobs are not uploaded again; a blob shared by two records is handled once', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['shared', 'only-a']);
  const b = await recordWith(local, 'b', ['shared']);
  const present = a.outputs[1]!.digest!;
  remote.seed(`cas/${present}`, readFileSync(local.store.objectPath(present)));
  const up = uploader(remote, local);
  up.enqueue(a);
  up.enqueue(b);
  const p = await up.flush();
  assert.equal(p.recordsUploaded, 2);
  assert.equal(p.blobsUploaded, 1, 'only "shared" was missing');
  assert.equal(remote.calls.put, 3, 'one blob and two records');
  assert.equal(remote.calls.stat, 4, 'one stat per distinct blob and one per record');
});

test('after a complete listing, listed blobs are skipped and unlisted ones are put without a stat', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['listed', 'unlisted']);
  const listed = a.outputs[0]!.digest!;
  const bytes = readFileSync(local.store.objectPath(listed));
  remote.seed(`cas/${listed}`, bytes);
  const up = uploader(remote, local);
  up.knownPresent(new Map([[listed, bytes.length]]));
  up.enqueue(a);
  const p = await up.flush();
  assert.equal(p.recordsUploaded, 1);
  assert.equal(p.blobsUploaded, 1);
  assert.equal(remote.calls.stat, 1, 'the listing answered every blob presence question (one stat: the record)');
  assert.equal(remote.calls.put, 2, 'the unlisted blob and the record');
  const unlisted = a.outputs[1]!.digest!;
  assert.deepEqual(remote.peek(`cas/${unlisted}`), readFileSync(local.store.objectPath(unlisted)));
});

test('with the records listed too, a missing record costs one create-only put, and one written since the listing stays', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const fresh = await recordWith(local, 'fresh', ['f']);
  const raced = await recordWith(local, 'raced', ['r']);
  const theirs = Buffer.from('{"someone":"else"}');
  remote.seed(`ac/${raced.key}.json`, theirs); // arrived after the listing below was made
  const up = uploader(remote, local);
  up.knownPresent(new Map(), new Set());
  up.enqueue(fresh);
  up.enqueue(raced);
  const p = await up.flush();
  assert.equal(remote.calls.stat, 0, 'the listing answered for blobs and records');
  assert.equal(p.recordsUploaded, 1);
  assert.equal(p.recordsPresent, 1);
  assert.deepEqual(remote.peek(`ac/${raced.key}.json`), theirs, 'the create-only put did not replace it');
  assert.ok(remote.peek(`ac/${fresh.key}.json`));
});

test('a remote blob of the wrong size (torn by someone else) is replaced', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['content']);
  const d = a.outputs[0]!.digest!;
  remote.seed(`cas/${d}`, Buffer.from('torn'));
  const up = uploader(remote, local);
  up.enqueue(a);
  await up.flush();
  assert.deepEqual(remote.peek(`cas/${d}`), readFileSync(local.store.objectPath(d)));
});

test('when a blob cannot be uploaded, the record is not uploaded either', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['x', 'y']);
  remote.inject('put', { type: 'reset', afterBytes: 3 }, { keyPrefix: `cas/${a.outputs[1]!.digest}` });
  const up = uploader(remote, local);
  up.enqueue(a);
  const p = await up.flush();
  assert.equal(p.recordsUploaded, 0);
  assert.equal(p.recordsDropped, 1);
  assert.equal(remote.peek(`ac/${a.key}.json`), undefined);
});

test('no more than `concurrency` requests are in flight', async () => {
  const local = await setup();
  const inner = new MemoryBlobStore();
  inner.inject('*', { type: 'delay', ms: 5 });
  let active = 0;
  let peak = 0;
  const counting = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'put' && prop !== 'stat') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return async (...args: unknown[]) => {
        active += 1;
        peak = Math.max(peak, active);
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          active -= 1;
        }
      };
    },
  });
  const up = uploader(counting, local, 3);
  for (let i = 0; i < 10; i++) up.enqueue(await recordWith(local, `t${i}`, [`c${i}`, `d${i}`]));
  const p = await up.flush();
  assert.equal(p.recordsUploaded, 10);
  assert.ok(peak <= 3, `peak ${peak}`);
  assert.ok(peak >= 2, `uploads ran in parallel (peak ${peak})`);
});

test('an interrupted run drops records whose blobs were not all uploaded (never a record without its blobs)', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  remote.inject('put', { type: 'delay', ms: 30 }, { keyPrefix: 'cas/' });
  const abort = new AbortController();
  const up = new Uploader({
    remote,
    local: local.store,
    concurrency: 1,
    encodeRecord: (r) => Buffer.from(JSON.stringify(r)),
    guard,
    signal: abort.signal,
  });
  const records = [];
  for (let i = 0; i < 4; i++) records.push(await recordWith(local, `t${i}`, [`a${i}`, `b${i}`]));
  for (const r of records) up.enqueue(r);
  setTimeout(() => abort.abort(), 40);
  const p = await up.flush();
  assert.ok(p.recordsDropped > 0, JSON.stringify(p));
  for (const r of records) {
    if (remote.peek(`ac/${r.key}.json`) === undefined) continue;
    for (const o of r.outputs) assert.ok(remote.peek(`cas/${o.digest}`), `record ${r.task} is there, so are its blobs`);
  }
});

test('a record already on the remote is never replaced (nor are its blobs uploaded)', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['mine']);
  const theirs = Buffer.from('{"signed":"by the team"}');
  remote.seed(`ac/${a.key}.json`, theirs);
  const up = uploader(remote, local);
  up.enqueue(a);
  const p = await up.flush();
  assert.deepEqual(remote.peek(`ac/${a.key}.json`), theirs);
  assert.equal(p.recordsUploaded, 0);
  assert.equal(p.recordsPresent, 1);
  assert.equal(p.recordsDropped, 0);
  assert.equal(remote.calls.put, 0);
});

test('when the presence of a record cannot be checked, it is not put', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['mine']);
  remote.inject('stat', { type: 'error', kind: 'transient' }, { keyPrefix: 'ac/' });
  const up = uploader(remote, local);
  up.enqueue(a);
  const p = await up.flush();
  assert.equal(p.recordsDropped, 1);
  assert.equal(remote.peek(`ac/${a.key}.json`), undefined);
  assert.equal(remote.calls.put, 0, 'neither the record nor its blob');
});

test('a blob marked damaged is put again over a same-size remote copy, also when its record is already there', async () => {
  const local = await setup();
  const remote = new MemoryBlobStore();
  const a = await recordWith(local, 'a', ['good bytes']);
  const d = a.outputs[0]!.digest!;
  const good = readFileSync(local.store.objectPath(d));
  const bad = Buffer.from(good);
  bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
  remote.seed(`cas/${d}`, bad);
  remote.seed(`ac/${a.key}.json`, Buffer.from('{}'));
  const plain = uploader(remote, local);
  plain.enqueue(a);
  await plain.flush();
  assert.deepEqual(remote.peek(`cas/${d}`), bad, 'without the mark a same-size copy counts as present');
  const up = uploader(remote, local);
  up.markDamaged(d);
  up.enqueue(a);
  await up.flush();
  assert.deepEqual(remote.peek(`cas/${d}`), good);
  assert.deepEqual(remote.peek(`ac/${a.key}.json`), Buffer.from('{}'), 'the record itself is kept');
});

test('flush reports progress once per finished record, and its work grows linearly with the records queued', async () => {
  const local = await setup();
  // Records without blobs: one create-only put each. The puts finish one at a time, each in a
  // turn of the event loop of its own, as uploads to a real remote do.
  const gates: (() => void)[] = [];
  class GatedStore extends MemoryBlobStore {
    override async put(...args: Parameters<BlobStore['put']>): ReturnType<BlobStore['put']> {
      await new Promise<void>((resolve) => gates.push(resolve));
      return super.put(...args);
    }
  }
  const remote = new GatedStore();
  const n = 400;
  const records = [];
  for (let i = 0; i < n; i++) records.push(await recordWith(local, `t${i}`, []));
  const up = uploader(remote, local, n);
  for (const r of records) up.enqueue(r);
  const opener = setInterval(() => gates.shift()?.(), 0);
  let promises = 0;
  const hook = createHook({ init: (_id, type) => void (type === 'PROMISE' && promises++) });
  const seen: number[] = [];
  hook.enable();
  let p;
  try {
    p = await up.flush((progress) => seen.push(progress.recordsDone));
  } finally {
    hook.disable();
    clearInterval(opener);
  }
  assert.equal(p.recordsUploaded, n);
  assert.equal(seen.length, n, 'one progress call per record');
  assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i + 1));
  // The uploads make about twenty promises per record; waiting for them with Promise.race over
  // everything pending made ~n²/2 more (88,000 in all here, against 8,000).
  assert.ok(promises < n * 60, `${promises} promises for ${n} records`);
});
