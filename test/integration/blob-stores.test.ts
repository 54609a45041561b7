/**
 * The blob store adapters against real servers on 127.0.0.1 (s3rver, azurite, the GCS fake):
 * the shared contract, then the fault matrix through a fault-injecting proxy, each fault seen
 * through the resilient wrapper the cache uses.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { BlobStoreError, type BlobStore } from '../../src/remote/blob-store.js';
import { openBlobStore, type RemoteOptions } from '../../src/remote/open-store.js';
import { ResilientBlobStore } from '../../src/remote/resilient-store.js';
import { describeBlobStoreContract, getBytes, readAllBytes } from '../contract/blob-store-contract.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from '../helpers/azurite.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGcsFake, type GcsFake } from '../helpers/gcs-fake.js';
import { S3RVER_ENV, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

let s3: S3rverHandle | undefined;
let az: AzuriteHandle | undefined;
let gcs: GcsFake | undefined;

before(async () => {
  [s3, az, gcs] = await Promise.all([startS3rver(), startAzurite(), startGcsFake()]);
});
after(async () => {
  await Promise.all([s3?.stop(), az?.stop(), gcs?.stop()]);
});

/** How to reach one kind of server, directly or through a proxy. */
interface Server {
  readonly name: string;
  readonly scheme: 's3' | 'gs' | 'azblob';
  port(): number;
  /** Path after host:port in the endpoint (azurite's account). */
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  /** Why the concurrent-puts contract case cannot run on this server. */
  readonly nonAtomicPuts?: string;
}

const SERVERS: readonly Server[] = [
  {
    name: 's3rver',
    scheme: 's3',
    port: () => s3?.port ?? 0,
    path: '',
    env: S3RVER_ENV,
    nonAtomicPuts: 's3rver 3.7.1 writes an object in place (no temp file + rename), so concurrent PUTs of one key interleave; S3 itself replaces objects atomically',
  },
  { name: 'azurite', scheme: 'azblob', port: () => az?.port ?? 0, path: `/${AZURITE_ACCOUNT}`, env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY } },
  { name: 'gcs fake', scheme: 'gs', port: () => gcs?.port ?? 0, path: '', env: {} },
];

let unique = 0;
const next = (): number => unique++;

function open(server: Server, bucket: string, prefix: string, endpoint = `http://127.0.0.1:${server.port()}${server.path}`, extra: Partial<RemoteOptions> = {}): Promise<BlobStore> {
  return openBlobStore(`${server.scheme}://${bucket}/${prefix}`, { endpoint, env: server.env, ...extra });
}

for (const server of SERVERS) {
  describe(server.name, () => {
    before(async () => {
      const s = await open(server, 'contract', '');
      await s.ensureBucket();
      await s.close();
    });
    describeBlobStoreContract(server.name, {
      make: () => open(server, 'contract', `t${next()}`, undefined, { listPageSize: 10 }),
      makeMissingBucket: () => open(server, `missing-${next()}`, ''),
      ...(server.nonAtomicPuts === undefined ? {} : { nonAtomicPuts: server.nonAtomicPuts }),
    });
  });
}

function kind(k: BlobStoreError['kind']): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BlobStoreError, `not a BlobStoreError: ${String(e)}`);
    assert.equal(e.kind, k, e.message);
    return true;
  };
}

const BLOB = Buffer.alloc(256 * 1024);
for (let i = 0; i < BLOB.length; i++) BLOB[i] = (i * 31 + 7) & 0xff;

for (const server of SERVERS) {
  describe(`fault matrix: ${server.name}`, () => {
    let proxy: FaultProxy;
    let raw: BlobStore;
    let store: ResilientBlobStore;
    let retries: number;
    const prefix = `faults${next()}`;

    before(async () => {
      proxy = await startFaultProxy(server.port(), server.path);
      const direct = await open(server, 'faults', prefix);
      await direct.ensureBucket();
      await direct.put('cas/blob', BLOB);
      await direct.close();
      raw = await open(server, 'faults', prefix, proxy.endpoint, { connectTimeoutMs: 1000, requestTimeoutMs: 3000 });
      store = new ResilientBlobStore(raw, {
        retries: 2,
        connectTimeoutMs: 400,
        requestTimeoutMs: 3000,
        baseDelayMs: 5,
        maxDelayMs: 20,
        onRetry: () => {
          retries += 1;
        },
      });
    });
    after(async () => {
      await store.close();
      await proxy.stop();
    });
    afterEach(async () => {
      await proxy.setFault(undefined);
    });
    const reset = (): void => {
      retries = 0;
      proxy.resetCount();
    };

    it('passes requests through when there is no fault', async () => {
      reset();
      assert.deepEqual(await getBytes(store, 'cas/blob'), BLOB);
      assert.equal(retries, 0);
    });

    it('server down: transient after the retries', async () => {
      await proxy.setFault({ mode: 'down' });
      reset();
      await assert.rejects(store.has('cas/blob'), kind('transient'));
      assert.equal(retries, 2);
    });

    it('server hangs: transient (timed out) within the configured timeouts', async () => {
      await proxy.setFault({ mode: 'hang' });
      reset();
      const t0 = Date.now();
      await assert.rejects(store.stat('cas/blob'), (e: unknown) => kind('transient')(e) && /no answer within 400 ms/.test((e as Error).message));
      const elapsed = Date.now() - t0;
      assert.equal(retries, 2);
      assert.ok(elapsed >= 3 * 400 && elapsed < 3 * 400 + 1500, `took ${elapsed} ms`);
      assert.equal(proxy.requests, 3);
    });

    for (const status of [500, 503, 429]) {
      it(`HTTP ${status}: transient, retried, then reported`, async () => {
        await proxy.setFault({ mode: 'status', status });
        reset();
        await assert.rejects(store.has('cas/blob'), (e: unknown) => kind('transient')(e) && (e as BlobStoreError).status === status);
        assert.equal(proxy.requests, 3);
        assert.equal(retries, 2);
      });
    }

    for (const status of [401, 403]) {
      it(`HTTP ${status}: auth at once, never retried`, async () => {
        await proxy.setFault({ mode: 'status', status });
        reset();
        await assert.rejects(store.get('cas/blob'), kind('auth'));
        assert.equal(proxy.requests, 1);
        assert.equal(retries, 0);
      });
    }

    it('a 503 that lasts fewer attempts than the retries is absorbed', async () => {
      await proxy.setFault({ mode: 'status', status: 503, times: 2 });
      reset();
      assert.equal(await store.has('cas/blob'), true);
      assert.equal(retries, 2);
    });

    for (const mode of ['truncate', 'reset'] as const) {
      it(`${mode === 'truncate' ? 'truncated body' : 'connection reset mid-body'}: the stream errors, never a short read`, async () => {
        await proxy.setFault({ mode, times: 1 });
        reset();
        const t0 = Date.now();
        const stream = await store.get('cas/blob');
        assert.ok(stream !== undefined);
        let received = 0;
        await assert.rejects(
          (async () => {
            for await (const c of stream) received += (c as Buffer).length;
          })(),
          (e: unknown) => e instanceof BlobStoreError && (e.kind === 'integrity' || e.kind === 'transient'),
        );
        assert.ok(received < BLOB.length, `received ${received} bytes`);
        // Detected by the adapter (length check, reset, or stall watchdog), not by the 3 s total timeout.
        assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
      });
    }

    it('wrong bytes: returned as served (or refused by the SDK\'s own checksum)', async () => {
      await proxy.setFault({ mode: 'corrupt', times: 1 });
      reset();
      const stream = await store.get('cas/blob');
      assert.ok(stream !== undefined);
      try {
        const got = await readAllBytes(stream);
        assert.equal(got.length, BLOB.length);
        assert.notDeepEqual(got, BLOB);
      } catch (e: unknown) {
        kind('integrity')(e);
      }
    });
  });
}
