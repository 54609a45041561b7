import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import type { ActionRecord } from '../../src/cas/action-cache.js';
import { CircuitBreaker } from '../../src/cache/breaker.js';
import { RemoteTier, type RemoteSink, type RemoteTransfer, type RemoteWarningKind } from '../../src/cache/tiered-cache.js';
import type { TaskKey } from '../../src/hash/digest.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import { localCache, objectsIn, recordWith, tempsIn, type LocalCache } from '../helpers/remote-fixtures.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function setup(): Promise<LocalCache> {
  const l = await localCache();
  cleanups.push(l.cleanup);
  return l;
}

interface Recorded {
  readonly sink: RemoteSink;
  readonly warnings: { message: string; kind: RemoteWarningKind }[];
  readonly transfers: RemoteTransfer[];
}

function recorder(): Recorded {
  const warnings: { message: string; kind: RemoteWarningKind }[] = [];
  const transfers: RemoteTransfer[] = [];
  return { warnings, transfers, sink: { warning: (message, kind) => warnings.push({ message, kind }), transfer: (t) => transfers.push(t) } };
}

function tier(remote: MemoryBlobStore, local: LocalCache, rec: Recorded, opts: { key?: string; threshold?: number; mode?: 'rw' | 'ro' } = {}): RemoteTier {
  return new RemoteTier({
    remote,
    mode: opts.mode ?? 'rw',
    ...(opts.key ? { signingKey: Buffer.from(opts.key) } : {}),
    concurrency: 4,
    breaker: new CircuitBreaker({ threshold: opts.threshold ?? 3, cooldownMs: 60_000 }),
    sink: rec.sink,
    local: local.store,
  });
}

/** Machine A builds `task` and pushes it; returns the record and the shared remote. */
async function published(task = 'build', opts: { key?: string; contents?: (string | Buffer)[] } = {}): Promise<{ remote: MemoryBlobStore; record: ActionRecord; a: LocalCache }> {
  const a = await setup();
  const remote = new MemoryBlobStore();
  const record = await recordWith(a, task, opts.contents ?? ['hello world\n', Buffer.alloc(2 << 20, 3)]);
  const t = tier(remote, a, recorder(), opts.key ? { key: opts.key } : {});
  t.upload(record);
  await t.flush();
  return { remote, record, a };
}

test('a remote hit is verified, imported byte-identical into the local CAS, and recorded locally', async () => {
  const { remote, record, a } = await published();
  const b = await setup();
  const rec = recorder();
  const t = tier(remote, b, rec);
  const got = await t.fetch(record.key, 'build', b.actions);
  assert.equal(got.kind, 'hit');
  for (const o of record.outputs) assert.deepEqual(readFileSync(b.store.objectPath(o.digest!)), readFileSync(a.store.objectPath(o.digest!)));
  assert.equal((await b.actions.get(record.key)).kind, 'hit');
  assert.equal(rec.transfers.length, 1);
  assert.equal(rec.transfers[0]?.direction, 'download');
  assert.equal(rec.transfers[0]?.blobs, 2);
  assert.equal(t.totals.hits, 1);
  assert.ok(t.totals.bytesDownloaded > 0);
  assert.deepEqual(rec.warnings, []);
});

test('a record the caller refuses (stray output path) is a corrupt miss: nothing is imported, one integrity warning', async () => {
  const { remote, record } = await published();
  const b = await setup();
  const rec = recorder();
  const got = await tier(remote, b, rec).fetch(record.key, 'build', b.actions, { accept: () => 'it lists ".git/hooks/x", which is not a declared output' });
  assert.deepEqual(got, { kind: 'miss', reason: 'corrupt' });
  assert.deepEqual(await objectsIn(b.store), []);
  assert.equal((await b.actions.get(record.key)).kind, 'miss');
  assert.equal(rec.warnings.length, 1);
  assert.equal(rec.warnings[0]?.kind, 'integrity');
  assert.match(rec.warnings[0]?.message ?? '', /refused \(it lists "\.git\/hooks\/x"/);
});

test('a remote record whose key record does not hash to its key is a corrupt miss', async () => {
  const a = await setup();
  const remote = new MemoryBlobStore();
  const record = await recordWith(a, 'build', ['x']);
  const forged = { ...record, keyRecord: { ...(record.keyRecord as object), cmd: 'something else' } };
  remote.seed(`ac/${record.key}.json`, Buffer.from(JSON.stringify({ format: 1, record: forged })));
  const b = await setup();
  const rec = recorder();
  assert.deepEqual(await tier(remote, b, rec).fetch(record.key, 'build', b.actions), { kind: 'miss', reason: 'corrupt' });
  assert.match(rec.warnings[0]?.message ?? '', /does not hash to its key/);
});

test('no record is a plain miss without a warning', async () => {
  const b = await setup();
  const rec = recorder();
  const got = await tier(new MemoryBlobStore(), b, rec).fetch('0'.repeat(64) as TaskKey, 'x', b.actions);
  assert.deepEqual(got, { kind: 'miss', reason: 'no-record' });
  assert.deepEqual(rec.warnings, []);
});

for (const [name, fault, reason, kind] of [
  ['wrong bytes', { type: 'corrupt' }, 'corrupt', 'integrity'],
  ['a body that ends early without an error', { type: 'truncate', bytes: 100, quiet: true }, 'corrupt', 'integrity'],
  ['a body cut short with an error', { type: 'truncate', bytes: 100 }, 'corrupt', 'integrity'],
  ['a connection reset mid-body', { type: 'reset', afterBytes: 1000 }, 'remote-error', 'unavailable'],
  ['503', { type: 'error', kind: 'transient', status: 503 }, 'remote-error', 'unavailable'],
  ['403', { type: 'error', kind: 'auth', status: 403 }, 'remote-error', 'auth'],
] as const) {
  test(`blob download fault: ${name} → miss "${reason}", one "${kind}" warning, nothing in the local CAS`, async () => {
    const { remote, record } = await published('build', { contents: [Buffer.alloc(3 << 20, 9)] });
    const b = await setup();
    const rec = recorder();
    remote.inject('get', fault, { keyPrefix: 'cas/' });
    const t = tier(remote, b, rec);
    for (let i = 0; i < 2; i++) {
      const got = await t.fetch(record.key, 'build', b.actions);
      assert.equal(got.kind, 'miss');
      assert.equal(got.kind === 'miss' && got.reason, reason);
    }
    assert.deepEqual(await objectsIn(b.store), []);
    assert.deepEqual(tempsIn(b.dir), []);
    assert.equal((await b.actions.get(record.key)).kind, 'miss');
    assert.deepEqual(rec.warnings.map((w) => w.kind), [kind]);
  });
}

test('auth failure: one "remote auth failed" warning, then reads stop for the run', async () => {
  const { remote, record } = await published();
  const b = await setup();
  const rec = recorder();
  // Store errors open with the store's description, as the adapters' do.
  remote.inject('get', { type: 'error', kind: 'auth', status: 403, message: `${remote.description}: get ac/x: AccessDenied` });
  remote.resetCalls();
  const t = tier(remote, b, rec);
  for (let i = 0; i < 5; i++) assert.equal((await t.fetch(record.key, 'build', b.actions)).kind, 'miss');
  assert.equal(remote.calls.get, 1);
  assert.equal(rec.warnings.length, 1);
  assert.match(rec.warnings[0]!.message, /^remote auth failed: memory:\/\/: get ac\/x: AccessDenied/);
  assert.equal(rec.warnings[0]!.message.split(remote.description).length, 2, `the remote is named once: ${rec.warnings[0]!.message}`);
});

test('breaker: after `threshold` outages the remote is not called; one warning', async () => {
  const b = await setup();
  const rec = recorder();
  const remote = new MemoryBlobStore();
  remote.inject('*', { type: 'error', kind: 'transient', status: 503 });
  const t = tier(remote, b, rec, { threshold: 2 });
  for (let i = 0; i < 20; i++) await t.fetch(String(i).padStart(64, '0') as TaskKey, `t${i}`, b.actions);
  assert.equal(remote.calls.get, 2);
  assert.deepEqual(rec.warnings.map((w) => w.kind), ['unavailable', 'breaker']);
});

test('missing bucket: one warning naming init-remote', async () => {
  const b = await setup();
  const rec = recorder();
  const t = tier(new MemoryBlobStore({ bucketExists: false }), b, rec);
  for (let i = 0; i < 3; i++) await t.fetch('1'.repeat(64) as TaskKey, 'x', b.actions);
  assert.equal(rec.warnings.length, 1);
  assert.match(rec.warnings[0]!.message, /bucket does not exist.*init-remote/);
});

test('signing: signed round trip; unsigned and tampered records are misses with reason "signature"', async () => {
  const signed = await published('s', { key: 'k1' });
  const b = await setup();
  assert.equal((await tier(signed.remote, b, recorder(), { key: 'k1' }).fetch(signed.record.key, 's', b.actions)).kind, 'hit');

  const unsigned = await published('u');
  const c = await setup();
  const rec = recorder();
  const got = await tier(unsigned.remote, c, rec, { key: 'k1' }).fetch(unsigned.record.key, 'u', c.actions);
  assert.deepEqual(got, { kind: 'miss', reason: 'signature', detail: 'is not signed' });
  assert.deepEqual(rec.warnings.map((w) => w.kind), ['signature']);
  assert.deepEqual(await objectsIn(c.store), [], 'a rejected record imports nothing');

  const file = JSON.parse(signed.remote.peek(`ac/${signed.record.key}.json`)!.toString()) as { record: ActionRecord };
  const evil = { ...file, record: { ...file.record, keyRecord: { version: 1, cmd: 'evil' } } };
  signed.remote.seed(`ac/${signed.record.key}.json`, JSON.stringify(evil));
  const d = await setup();
  const bad = await tier(signed.remote, d, recorder(), { key: 'k1' }).fetch(signed.record.key, 's', d.actions);
  assert.deepEqual(bad, { kind: 'miss', reason: 'signature', detail: 'has a bad signature' });
  const wrongKey = await tier(signed.remote, d, recorder(), { key: 'k2' }).fetch(signed.record.key, 's', d.actions);
  assert.equal(wrongKey.kind === 'miss' && wrongKey.reason, 'signature');
});

test('a malformed remote record is a "corrupt" miss', async () => {
  const { remote, record } = await published();
  remote.seed(`ac/${record.key}.json`, '{"format":1,"record":{"version":1}}');
  const b = await setup();
  const rec = recorder();
  const got = await tier(remote, b, rec).fetch(record.key, 'build', b.actions);
  assert.equal(got.kind === 'miss' && got.reason, 'corrupt');
  assert.deepEqual(rec.warnings.map((w) => w.kind), ['integrity']);
});

test('ro mode never writes', async () => {
  const a = await setup();
  const remote = new MemoryBlobStore();
  const t = tier(remote, a, recorder(), { mode: 'ro' });
  t.upload(await recordWith(a, 'x', ['data']));
  await t.flush();
  assert.equal(remote.calls.put, 0);
  assert.equal(remote.calls.stat, 0);
  assert.deepEqual(remote.keys(), []);
});

test('breaker: failed attempts reported by the store count too, and opening it cuts requests in flight', async () => {
  const b = await setup();
  const rec = recorder();
  const remote = new MemoryBlobStore();
  remote.inject('get', { type: 'hang' });
  const t = tier(remote, b, rec, { threshold: 2 });
  const pending = [1, 2, 3].map((i) => t.fetch(String(i).padStart(64, '0') as TaskKey, `t${i}`, b.actions));
  await new Promise((r) => setTimeout(r, 20));
  t.noteRetry();
  t.noteRetry();
  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.kind === 'miss' && r.reason), ['remote-error', 'remote-error', 'remote-error']);
  assert.deepEqual(rec.warnings.map((w) => w.kind), ['breaker']);
  await remote.close();
});
