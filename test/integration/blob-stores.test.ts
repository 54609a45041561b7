/**
 * The blob store adapters against real servers on 127.0.0.1 (s3rver, azurite, the GCS fake):
 * the shared contract, then the fault matrix through a fault-injecting proxy, each fault seen
 * through the resilient wrapper the cache uses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { BlobStoreError, type BlobStore } from '../../src/remote/blob-store.js';
import { openBlobStore, type RemoteOptions } from '../../src/remote/open-store.js';
import { ResilientBlobStore } from '../../src/remote/resilient-store.js';
import { describeBlobStoreContract, getBytes, readAllBytes } from '../contract/blob-store-contract.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from '../helpers/azurite.js';
import { startConditionalPutProxy } from '../helpers/conditional-put-proxy.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGcsFake, type GcsFake } from '../helpers/gcs-fake.js';
import { CLI } from '../helpers/rig.js';
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
  readonly noConditionalPut?: string;
  /** Keys for the paging case and the page size (default 25 keys in pages of 10). */
  readonly paging?: { readonly keys: number; readonly pageSize?: number };
}

const SERVERS: readonly Server[] = [
  {
    name: 's3rver',
    scheme: 's3',
    port: () => s3?.port ?? 0,
    path: '',
    env: S3RVER_ENV,
    nonAtomicPuts: 's3rver 3.7.1 writes an object in place (no temp file + rename), so concurrent PUTs of one key interleave; S3 itself replaces objects atomically',
    noConditionalPut: 's3rver 3.7.1 ignores If-None-Match on PUT (it honours it only on GET); S3, MinIO and R2 answer 412 (covered below through a proxy that answers as S3 does)',
  },
  { name: 'azurite', scheme: 'azblob', port: () => az?.port ?? 0, path: `/${AZURITE_ACCOUNT}`, env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY } },
  // In-process and quick: > 1000 keys with the provider's default page size (1000).
  { name: 'gcs fake', scheme: 'gs', port: () => gcs?.port ?? 0, path: '', env: {}, paging: { keys: 1001 } },
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
      make: () => open(server, 'contract', `t${next()}`, undefined, server.paging === undefined ? { listPageSize: 10 } : server.paging.pageSize === undefined ? {} : { listPageSize: server.paging.pageSize }),
      listKeys: server.paging?.keys ?? 25,
      makeMissingBucket: () => open(server, `missing-${next()}`, ''),
      ...(server.nonAtomicPuts === undefined ? {} : { nonAtomicPuts: server.nonAtomicPuts }),
      ...(server.noConditionalPut === undefined ? {} : { noConditionalPut: server.noConditionalPut }),
    });
  });
}

// s3rver ignores If-None-Match on PUT; behind this proxy it answers 412/409 as S3 does, so the
// adapter's mapping of those answers to 'exists' is tested against real HTTP responses.
describe('s3rver with S3 conditional writes (proxy): create-only puts', () => {
  const s3Server = SERVERS.find((s) => s.scheme === 's3') as Server;
  it('stores a new key once; a second create-only put is "exists" (412) and writes nothing', async () => {
    const proxy = await startConditionalPutProxy(s3Server.port());
    const s = await open(s3Server, 'contract', `cond${next()}`, proxy.endpoint);
    try {
      assert.equal(await s.put('ac/once.json', Buffer.from('first'), { ifAbsent: true }), 'stored');
      assert.equal(await s.put('ac/once.json', Buffer.from('second'), { ifAbsent: true }), 'exists');
      assert.equal(proxy.refused.precondition, 1);
      assert.equal((await getBytes(s, 'ac/once.json'))?.toString(), 'first');
    } finally {
      await s.close();
      await proxy.stop();
    }
  });

  it('of several concurrent create-only puts of one key exactly one is "stored" (the rest 409/412), and its content is kept', async () => {
    const proxy = await startConditionalPutProxy(s3Server.port());
    const s = await open(s3Server, 'contract', `cond${next()}`, proxy.endpoint);
    try {
      const bodies = [1, 2, 3, 4, 5, 6].map((n) => Buffer.from(`record ${n}`));
      const outcomes = await Promise.all(bodies.map((b) => s.put('ac/race.json', b, { ifAbsent: true })));
      assert.equal(outcomes.filter((o) => o === 'stored').length, 1, outcomes.join(','));
      assert.equal(proxy.refused.conflict + proxy.refused.precondition, bodies.length - 1);
      const winner = bodies[outcomes.indexOf('stored')];
      assert.equal((await getBytes(s, 'ac/race.json'))?.toString(), winner?.toString());
    } finally {
      await s.close();
      await proxy.stop();
    }
  });
});

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

describe('upload paths', () => {
  it('S3: a large stream goes up as a multipart upload, a small buffer as one PutObject', async () => {
    const server = SERVERS[0] as Server;
    const proxy = await startFaultProxy(server.port());
    const store = await open(server, 'contract', `mp${next()}`, proxy.endpoint);
    try {
      await store.put('cas/small', Buffer.from('small'));
      assert.deepEqual(proxy.log.filter((l) => l.startsWith('PUT')).length, 1);
      assert.ok(!proxy.log.some((l) => /uploads|partNumber/.test(l)));
      proxy.resetCount();
      const big = Buffer.alloc(20 * 1024 * 1024, 3);
      await store.put('cas/big', big);
      assert.ok(proxy.log.some((l) => l.startsWith('POST') && /[?&]uploads/.test(l)), proxy.log.join('\n'));
      assert.equal(proxy.log.filter((l) => /partNumber=/.test(l)).length, 3, 'three 8 MiB parts');
      assert.deepEqual(await getBytes(store, 'cas/big'), big);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('GCS: a stream goes up resumably, a small buffer in one multipart request', async () => {
    const server = SERVERS[2] as Server;
    const store = await open(server, 'contract', `up${next()}`);
    const fake = gcs as GcsFake;
    try {
      const before = fake.log.length;
      await store.put('cas/small', Buffer.from('small'));
      await store.put('cas/stream', Readable.from([Buffer.alloc(1000, 1)]));
      const seen = fake.log.slice(before);
      assert.deepEqual(seen, ['POST /upload/storage/v1/b/contract/o', 'POST /upload/storage/v1/b/contract/o', 'PUT /upload/storage/v1/b/contract/o']);
    } finally {
      await store.close();
    }
  });
});

describe('through the CLI', () => {
  it('init-remote on S3 prints no SDK warning and names the remote without credentials', async () => {
    const env = { ...process.env, ...S3RVER_ENV, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'cache', 'init-remote', '--remote', 's3://cli-bucket/team', '--remote-endpoint', `http://127.0.0.1:${s3?.port ?? 0}`], { env, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
      );
    });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /s3:\/\/cli-bucket\/team \(endpoint http:\/\/127\.0\.0\.1:\d+\)/);
    assert.doesNotMatch(r.stdout + r.stderr, /S3RVER/);
  });
});

describe('credentials', () => {
  it('Azure: a connection string, an account SAS, and a wrong key (auth, not retried)', async () => {
    const sdk = await import('@azure/storage-blob');
    const endpoint = `http://127.0.0.1:${az?.port ?? 0}/${AZURITE_ACCOUNT}`;
    const cs = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
    const viaCs = await openBlobStore('azblob://creds/cs', { env: { AZURE_STORAGE_CONNECTION_STRING: cs } });
    await viaCs.ensureBucket();
    await viaCs.put('k', Buffer.from('cs'));
    assert.equal(viaCs.description, `azblob://creds/cs (endpoint ${endpoint})`);

    const sas = sdk
      .generateAccountSASQueryParameters(
        {
          expiresOn: new Date(Date.now() + 3_600_000),
          permissions: sdk.AccountSASPermissions.parse('rwdlc'),
          resourceTypes: sdk.AccountSASResourceTypes.parse('sco').toString(),
          services: sdk.AccountSASServices.parse('b').toString(),
        },
        new sdk.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
      )
      .toString();
    const viaSas = await openBlobStore('azblob://creds/cs', { endpoint, env: { AZURE_STORAGE_SAS_TOKEN: `?${sas}` } });
    assert.deepEqual(await getBytes(viaSas, 'k'), Buffer.from('cs'));
    assert.doesNotMatch(viaSas.description, /sig=/);

    const badKey = Buffer.alloc(64, 7).toString('base64');
    let retried = 0;
    const wrong = new ResilientBlobStore(
      await openBlobStore('azblob://creds/cs', { endpoint, env: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: badKey } }),
      { retries: 3, baseDelayMs: 1, onRetry: () => void retried++ },
    );
    await assert.rejects(wrong.get('k'), (e: unknown) => kind('auth')(e) && !(e as Error).message.includes(badKey));
    assert.equal(retried, 0);
    await Promise.all([viaCs.close(), viaSas.close(), wrong.close()]);
  });

  it('S3: wrong access keys are an auth error, never retried', async () => {
    let retried = 0;
    const raw = await openBlobStore('s3://contract/creds', {
      endpoint: `http://127.0.0.1:${s3?.port ?? 0}`,
      env: { AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: 'wrongsecret', AWS_REGION: 'us-east-1' },
    });
    const store = new ResilientBlobStore(raw, { retries: 3, baseDelayMs: 1, onRetry: () => void retried++ });
    await assert.rejects(store.get('cas/x'), (e: unknown) => kind('auth')(e) && !/wrongsecret/.test((e as Error).message));
    assert.equal(retried, 0);
    await store.close();
  });
});
