import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import { ResilientBlobStore, type ResilienceOptions } from '../../src/remote/resilient-store.js';
import { readAllBytes } from '../contract/blob-store-contract.js';

const BODY = Buffer.from('x'.repeat(4096));

function setup(opts: ResilienceOptions = {}): { mem: MemoryBlobStore; store: ResilientBlobStore; retries: { attempt: number; delayMs: number; kind: string }[] } {
  const mem = new MemoryBlobStore({ chunkSize: 512 });
  mem.seed('cas/a', BODY);
  const retries: { attempt: number; delayMs: number; kind: string }[] = [];
  const store = new ResilientBlobStore(mem, {
    retries: 3,
    connectTimeoutMs: 100,
    requestTimeoutMs: 1000,
    baseDelayMs: 4,
    maxDelayMs: 10,
    random: () => 0.5,
    onRetry: (i) => retries.push({ attempt: i.attempt, delayMs: i.delayMs, kind: i.error.kind }),
    ...opts,
  });
  return { mem, store, retries };
}

function kind(k: BlobStoreError['kind']): (e: unknown) => boolean {
  return (e) => e instanceof BlobStoreError && e.kind === k;
}

describe('ResilientBlobStore', () => {
  it('retries transient errors with growing, jittered, capped delays and then succeeds', async () => {
    const { mem, store, retries } = setup();
    mem.inject('stat', { type: 'error', kind: 'transient', status: 503 }, { times: 3 });
    assert.deepEqual(await store.stat('cas/a'), { key: 'cas/a', size: BODY.length });
    assert.equal(mem.calls.stat, 4);
    // cap = min(10, 4 * 2^n); delay = cap/2 + cap/2 * 0.5
    assert.deepEqual(retries.map((r) => r.delayMs), [3, 6, 8]);
    assert.deepEqual(retries.map((r) => r.attempt), [1, 2, 3]);
  });

  it('gives up after the configured retries with the last transient error', async () => {
    const { mem, store } = setup({ retries: 2 });
    mem.inject('has', { type: 'error', kind: 'transient', status: 500 });
    await assert.rejects(store.has('cas/a'), (e: unknown) => kind('transient')(e) && (e as BlobStoreError).status === 500);
    assert.equal(mem.calls.has, 3);
  });

  for (const k of ['auth', 'no-bucket', 'permanent', 'integrity'] as const) {
    it(`never retries ${k} errors`, async () => {
      const { mem, store, retries } = setup();
      mem.inject('get', { type: 'error', kind: k, status: k === 'auth' ? 403 : undefined });
      await assert.rejects(store.get('cas/a'), kind(k));
      assert.equal(mem.calls.get, 1);
      assert.equal(retries.length, 0);
    });
  }

  it('times out a hanging call per attempt (first-answer deadline) and retries it', async () => {
    const { mem, store, retries } = setup({ retries: 1 });
    mem.inject('has', { type: 'hang' });
    const t0 = Date.now();
    await assert.rejects(store.has('cas/a'), (e: unknown) => kind('transient')(e) && /no answer within 100 ms/.test((e as Error).message));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 200 && elapsed < 800, `took ${elapsed} ms`);
    assert.equal(mem.calls.has, 2);
    assert.equal(retries.length, 1);
    await mem.close();
  });

  it('bounds a put by the whole-request timeout (no first-answer deadline)', async () => {
    const { mem, store } = setup({ retries: 0, requestTimeoutMs: 250 });
    mem.inject('put', { type: 'delay', ms: 150 }, { times: 1 });
    await store.put('cas/slow', BODY); // longer than the 100 ms answer deadline: fine for a put
    mem.inject('put', { type: 'hang' });
    await assert.rejects(store.put('cas/hang', BODY), (e: unknown) => kind('transient')(e) && /no complete answer within 250 ms/.test((e as Error).message));
    await mem.close();
  });

  it('a caller abort stops at once and is not retried', async () => {
    const { mem, store, retries } = setup();
    mem.inject('stat', { type: 'hang' });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 30);
    await assert.rejects(store.stat('cas/a', { signal: ctl.signal }), (e: unknown) => kind('transient')(e) && /aborted/.test((e as Error).message));
    assert.equal(mem.calls.stat, 1);
    assert.equal(retries.length, 0);
    await mem.close();
  });

  it('a caller abort during the backoff ends the retries', async () => {
    const { mem, store } = setup({ baseDelayMs: 500, maxDelayMs: 500 });
    mem.inject('has', { type: 'error', kind: 'transient' });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    const t0 = Date.now();
    await assert.rejects(store.has('cas/a', { signal: ctl.signal }), kind('transient'));
    assert.ok(Date.now() - t0 < 400);
    assert.equal(mem.calls.has, 1);
  });

  it('does not retry a put with a stream body, but retries one with a buffer or a reopenable source', async () => {
    const { mem, store } = setup();
    mem.inject('put', { type: 'error', kind: 'transient' }, { times: 1 });
    await assert.rejects(store.put('cas/s', Readable.from([BODY])), kind('transient'));
    assert.equal(mem.calls.put, 1);
    mem.inject('put', { type: 'error', kind: 'transient' }, { times: 1 });
    await store.put('cas/b', BODY);
    assert.deepEqual(mem.peek('cas/b'), BODY);
    mem.inject('put', { type: 'reset', afterBytes: 10 }, { times: 2 });
    let opened = 0;
    await store.putFrom('cas/f', () => {
      opened += 1;
      return Readable.from([BODY]);
    });
    assert.equal(opened, 3);
    assert.deepEqual(mem.peek('cas/f'), BODY);
  });

  it('hands out the stream of a get; a body that fails later errors the stream', async () => {
    const { mem, store } = setup();
    assert.deepEqual(await readAllBytes((await store.get('cas/a')) as Readable), BODY);
    assert.equal(await store.get('cas/none'), undefined);
    mem.inject('get', { type: 'truncate', bytes: 100 }, { times: 1 });
    const s = await store.get('cas/a');
    assert.ok(s !== undefined);
    await assert.rejects(readAllBytes(s), kind('integrity'));
    assert.equal(mem.calls.get, 3, 'the body failure is not retried');
  });

  it('bounds a body by the request timeout', async () => {
    const { mem, store } = setup({ requestTimeoutMs: 150 });
    const s = await store.get('cas/a');
    assert.ok(s !== undefined);
    s.pause(); // a reader that never reads keeps the stream open...
    await new Promise((r) => setTimeout(r, 250));
    await assert.rejects(readAllBytes(s), (e: unknown) => kind('transient')(e) && /no (complete answer|progress) within 150 ms/.test((e as Error).message));
    await mem.close();
  });

  it('shares one caller signal among many concurrent calls without piling listeners on it', async () => {
    const { mem, store } = setup();
    mem.inject('has', { type: 'delay', ms: 20 });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ctl = new AbortController();
      const all = await Promise.all(Array.from({ length: 30 }, () => store.has('cas/a', { signal: ctl.signal })));
      assert.ok(all.every((x) => x));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings, []);
      assert.ok(getEventListeners(ctl.signal, 'abort').length <= 1, 'one listener for all the calls');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('retries a listing that fails before yielding anything', async () => {
    const { mem, store } = setup();
    mem.inject('list', { type: 'error', kind: 'transient' }, { times: 2 });
    const keys: string[] = [];
    for await (const i of store.list('cas/')) keys.push(i.key);
    assert.deepEqual(keys, ['cas/a']);
    assert.equal(mem.calls.list, 3);
  });

  it('wraps foreign errors of the inner store as BlobStoreErrors', async () => {
    const { mem, store } = setup({ retries: 0 });
    const odd = Object.assign(mem, {});
    const inner = new ResilientBlobStore({ ...odd, description: 'odd', has: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })) } as unknown as MemoryBlobStore, { retries: 0 });
    await assert.rejects(inner.has('cas/a'), (e: unknown) => kind('transient')(e) && /^odd: has cas\/a: connect ECONNREFUSED/.test((e as Error).message));
    assert.equal(store.description, 'memory://');
    assert.equal(store.inner, mem);
    await store.close();
    assert.equal(mem.closed, true);
  });
});

describe('ResilientBlobStore.getBytes (small objects read whole)', () => {
  it('returns the bytes, or undefined for a missing key', async () => {
    const { store } = setup();
    assert.deepEqual(await store.getBytes('cas/a', 1 << 20), BODY);
    assert.equal(await store.getBytes('cas/none', 1 << 20), undefined);
  });

  for (const [name, fault] of [
    ['reset mid-body', { type: 'reset', afterBytes: 1000 }],
    ['server hangs before answering', { type: 'hang' }],
  ] as const) {
    it(`${name}: retried whole (unlike a streamed get), then the right bytes`, async () => {
      const { mem, store, retries } = setup({ requestTimeoutMs: 200 });
      mem.inject('get', fault, { times: 1 });
      assert.deepEqual(await store.getBytes('cas/a', 1 << 20), BODY);
      assert.equal(mem.calls.get, 2);
      assert.equal(retries.length, 1);
      assert.equal(retries[0]?.kind, 'transient');
      await mem.close();
    });
  }

  it('a truncated body is integrity (not retried, never a short read); wrong bytes come back as served', async () => {
    const { mem, store, retries } = setup();
    mem.inject('get', { type: 'truncate', bytes: 100 }, { times: 1 });
    await assert.rejects(store.getBytes('cas/a', 1 << 20), kind('integrity'));
    assert.equal(retries.length, 0);
    mem.inject('get', { type: 'corrupt' }, { times: 1 });
    const got = await store.getBytes('cas/a', 1 << 20);
    assert.equal(got?.length, BODY.length);
    assert.notDeepEqual(got, BODY);
  });

  it('refuses a body larger than the limit as integrity, and stops reading it', async () => {
    const { store, retries } = setup();
    await assert.rejects(store.getBytes('cas/a', 1000), (e: unknown) => kind('integrity')(e) && /get cas\/a: larger than 1000 bytes/.test((e as Error).message));
    assert.equal(retries.length, 0);
  });

  it('a caller abort stops it at once', async () => {
    const { mem, store, retries } = setup();
    mem.inject('get', { type: 'hang' });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 30);
    await assert.rejects(store.getBytes('cas/a', 1 << 20, { signal: ctl.signal }), (e: unknown) => kind('transient')(e) && /aborted/.test((e as Error).message));
    assert.equal(retries.length, 0);
    await mem.close();
  });
});

describe('fault matrix on MemoryBlobStore through ResilientBlobStore', () => {
  const transient: [string, Parameters<MemoryBlobStore['inject']>[1]][] = [
    ['server down', { type: 'error', kind: 'transient', message: 'connect ECONNREFUSED 127.0.0.1:9' }],
    ['HTTP 500', { type: 'error', kind: 'transient', status: 500 }],
    ['HTTP 503', { type: 'error', kind: 'transient', status: 503 }],
    ['HTTP 429', { type: 'error', kind: 'transient', status: 429 }],
    ['server hangs', { type: 'hang' }],
  ];
  for (const [name, fault] of transient) {
    it(`${name}: transient after 2 retries`, async () => {
      const { mem, store, retries } = setup({ retries: 2 });
      mem.inject('get', fault);
      await assert.rejects(store.get('cas/a'), kind('transient'));
      assert.equal(mem.calls.get, 3);
      assert.equal(retries.length, 2);
      await mem.close();
    });
  }
  for (const status of [401, 403]) {
    it(`HTTP ${status}: auth at once`, async () => {
      const { mem, store, retries } = setup({ retries: 2 });
      mem.inject('get', { type: 'error', kind: 'auth', status });
      await assert.rejects(store.get('cas/a'), (e: unknown) => kind('auth')(e) && (e as BlobStoreError).status === status);
      assert.equal(mem.calls.get, 1);
      assert.equal(retries.length, 0);
    });
  }
  for (const [name, fault, k] of [
    ['truncated body', { type: 'truncate', bytes: 1000 }, 'integrity'],
    ['reset mid-body', { type: 'reset', afterBytes: 1000 }, 'transient'],
  ] as const) {
    it(`${name}: the stream errors (${k}), never a short read`, async () => {
      const { mem, store } = setup();
      mem.inject('get', fault);
      const s = await store.get('cas/a');
      assert.ok(s !== undefined);
      let n = 0;
      await assert.rejects(
        (async () => {
          for await (const c of s) n += (c as Buffer).length;
        })(),
        kind(k),
      );
      assert.equal(n, 1000);
    });
  }
  it('wrong bytes: returned as served, same length', async () => {
    const { mem, store } = setup();
    mem.inject('get', { type: 'corrupt' });
    const got = await readAllBytes((await store.get('cas/a')) as Readable);
    assert.equal(got.length, BODY.length);
    assert.notDeepEqual(got, BODY);
  });
});

describe('request timeout as an idle deadline for bodies', () => {
  async function* paced(chunks: number, everyMs: number, stallAfter?: number): AsyncGenerator<Buffer> {
    for (let i = 0; i < chunks; i++) {
      if (i === stallAfter) await new Promise((r) => setTimeout(r, 1500));
      await new Promise((r) => setTimeout(r, everyMs));
      yield Buffer.alloc(100, i);
    }
  }
  class PacedStore extends MemoryBlobStore {
    stallAfter: number | undefined;
    override async get(): Promise<Readable> {
      return Readable.from(paced(10, 60, this.stallAfter), { objectMode: false });
    }
  }
  const open = (): { inner: PacedStore; store: ResilientBlobStore } => {
    const inner = new PacedStore();
    return { inner, store: new ResilientBlobStore(inner, { retries: 0, connectTimeoutMs: 100, requestTimeoutMs: 200 }) };
  };

  it('a download that keeps moving may take longer than the request timeout; a stalled one fails', async () => {
    const { inner, store } = open();
    const t0 = Date.now();
    const got = await readAllBytes((await store.get('cas/x')) as Readable);
    assert.equal(got.length, 1000);
    assert.ok(Date.now() - t0 > 400, 'the body took longer than the 200 ms request timeout');
    inner.stallAfter = 3;
    const s = await store.get('cas/x');
    await assert.rejects(readAllBytes(s as Readable), (e: unknown) => kind('transient')(e) && /no progress within 200 ms/.test((e as Error).message));
  });

  it('getBytes: a body that keeps moving may take longer than the request timeout; a stalled one fails (and its stream is ended)', async () => {
    const { inner, store } = open();
    const t0 = Date.now();
    assert.equal((await store.getBytes('cas/x', 1 << 20))?.length, 1000);
    assert.ok(Date.now() - t0 > 400, 'the body took longer than the 200 ms request timeout');
    inner.stallAfter = 3;
    await assert.rejects(store.getBytes('cas/x', 1 << 20), (e: unknown) => kind('transient')(e) && /no progress within 200 ms/.test((e as Error).message));
  });

  it('an upload from a stream that keeps moving may take longer than the request timeout; a stalled one fails', async () => {
    const { inner, store } = open();
    await store.put('cas/up', Readable.from(paced(10, 60), { objectMode: false }));
    assert.equal(inner.peek('cas/up')?.length, 1000);
    await assert.rejects(
      store.putFrom('cas/stalled', () => Readable.from(paced(10, 60, 3), { objectMode: false })),
      (e: unknown) => kind('transient')(e) && /no progress within 200 ms/.test((e as Error).message),
    );
    assert.equal(inner.peek('cas/stalled'), undefined);
  });
});
