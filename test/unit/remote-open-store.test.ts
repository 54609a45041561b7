import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { classifyError, errorKind, scrubSecrets } from '../../src/remote/classify-error.js';
import { DirBlobStore } from '../../src/remote/dir-store.js';
import { keyProblem, normalisePrefix } from '../../src/remote/keys.js';
import { openBlobStore, parseRemoteUrl } from '../../src/remote/open-store.js';
import { describeEndpoint } from '../../src/remote/remote-options.js';

const tmp = mkdtempSync(join(tmpdir(), 'reprovm-open-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function permanent(pattern: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof BlobStoreError && e.kind === 'permanent' && pattern.test(e.message);
}

describe('parseRemoteUrl', () => {
  it('splits cloud URLs into scheme, bucket and a normalised prefix', () => {
    assert.deepEqual(parseRemoteUrl('s3://my-bucket/team/cache/'), { kind: 'cloud', scheme: 's3', bucket: 'my-bucket', prefix: 'team/cache/' });
    assert.deepEqual(parseRemoteUrl('gs://b'), { kind: 'cloud', scheme: 'gs', bucket: 'b', prefix: '' });
    assert.deepEqual(parseRemoteUrl('azblob://container/p'), { kind: 'cloud', scheme: 'azblob', bucket: 'container', prefix: 'p/' });
    assert.deepEqual(parseRemoteUrl('S3://b/a//'), { kind: 'cloud', scheme: 's3', bucket: 'b', prefix: 'a/' });
  });

  it('takes directories as paths or file:// URLs', () => {
    assert.deepEqual(parseRemoteUrl('/srv/cache'), { kind: 'dir', path: '/srv/cache' });
    assert.deepEqual(parseRemoteUrl('rel/dir', '/base'), { kind: 'dir', path: '/base/rel/dir' });
    assert.deepEqual(parseRemoteUrl('file:///srv/cache'), { kind: 'dir', path: '/srv/cache' });
  });

  it('refuses bad URLs with one clear line each', () => {
    assert.throws(() => parseRemoteUrl('ftp://host/x'), permanent(/unknown remote scheme "ftp:\/\/"; use s3:\/\/, gs:\/\/, azblob:\/\//));
    assert.throws(() => parseRemoteUrl('s3:///prefix'), permanent(/names no bucket/));
    assert.throws(() => parseRemoteUrl('azblob:///x'), permanent(/names no container/));
    assert.throws(() => parseRemoteUrl(''), permanent(/empty/));
    // Dot segments are resolved by URL parsing, inside the bucket.
    assert.deepEqual(parseRemoteUrl('s3://b/a/%2E%2E/x'), { kind: 'cloud', scheme: 's3', bucket: 'b', prefix: 'x/' });
    assert.throws(() => parseRemoteUrl('s3://b/a//x'), permanent(/empty path segment/));
    assert.throws(() => parseRemoteUrl('s3://b:9000/x'), permanent(/--remote-endpoint/));
    assert.throws(() => parseRemoteUrl('s3://b/x?sig=1'), permanent(/query/));
  });

  it('refuses credentials in the URL without repeating them', () => {
    assert.throws(
      () => parseRemoteUrl('s3://AKIAEXAMPLE:hunter2@bucket/p'),
      (e: unknown) => permanent(/must not contain credentials/)(e) && !/hunter2|AKIAEXAMPLE/.test((e as Error).message),
    );
  });
});

describe('openBlobStore', () => {
  it('opens a directory store without loading any SDK', async () => {
    const s = await openBlobStore(join(tmp, 'd'), { env: {} });
    assert.ok(s instanceof DirBlobStore);
    await s.ensureBucket();
    await s.put('a', Buffer.from('1'));
    assert.equal(await s.has('a'), true);
  });

  it('describes cloud stores by location and endpoint, never with credentials', async () => {
    const secretEnv = {
      AWS_ACCESS_KEY_ID: 'AKIASECRET', AWS_SECRET_ACCESS_KEY: 'topsecret', AWS_REGION: 'eu-west-1',
      AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_SAS_TOKEN: 'sv=2024&sig=SASSECRET',
    };
    const s3 = await openBlobStore('s3://bucket/pre', { env: secretEnv, endpoint: 'http://user:pw@127.0.0.1:9000/?X-Amz-Signature=abc' });
    const gs = await openBlobStore('gs://bucket/pre', { env: {}, endpoint: 'http://127.0.0.1:4443' });
    const az = await openBlobStore('azblob://cont/pre', { env: secretEnv });
    try {
      assert.equal(s3.description, 's3://bucket/pre (endpoint http://127.0.0.1:9000)');
      assert.equal(gs.description, 'gs://bucket/pre (endpoint http://127.0.0.1:4443)');
      assert.equal(az.description, 'azblob://cont/pre (endpoint https://acct.blob.core.windows.net)');
      for (const d of [s3.description, gs.description, az.description]) assert.doesNotMatch(d, /SECRET|secret|pw|sig=/);
    } finally {
      await Promise.all([s3.close(), gs.close(), az.close()]);
    }
  });

  it('takes the S3 endpoint from AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL', async () => {
    const a = await openBlobStore('s3://b', { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', AWS_ENDPOINT_URL: 'http://127.0.0.1:2' } });
    const b = await openBlobStore('s3://b', { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:2' } });
    assert.match(a.description, /127\.0\.0\.1:1\)$/);
    assert.match(b.description, /127\.0\.0\.1:2\)$/);
    await Promise.all([a.close(), b.close()]);
  });

  it('takes the GCS endpoint from STORAGE_EMULATOR_HOST', async () => {
    const g = await openBlobStore('gs://b', { env: { STORAGE_EMULATOR_HOST: 'localhost:4443/storage/v1/' } });
    assert.equal(g.description, 'gs://b (endpoint http://localhost:4443)');
  });

  it('says how to configure Azure when there is no account at all', async () => {
    await assert.rejects(openBlobStore('azblob://c', { env: {} }), permanent(/AZURE_STORAGE_CONNECTION_STRING/));
  });
});

describe('error classification', () => {
  const cases: [string, unknown, string][] = [
    ['AWS 403', { name: 'AccessDenied', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }, 'auth'],
    ['AWS bad key', { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }, 'auth'],
    ['AWS no bucket', { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, 'no-bucket'],
    ['AWS 503', { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }, 'transient'],
    ['AWS 429', { name: 'Unknown', $metadata: { httpStatusCode: 429 } }, 'transient'],
    ['Azure container', { name: 'RestError', statusCode: 404, code: 'ContainerNotFound' }, 'no-bucket'],
    ['Azure auth', { name: 'RestError', statusCode: 403, code: 'AuthorizationFailure' }, 'auth'],
    ['GCS 401', { code: 401, message: 'Unauthorized' }, 'auth'],
    ['GCS 500', { code: 500, errors: [{ reason: 'backendError' }] }, 'transient'],
    ['GCS checksum', { code: 'CONTENT_DOWNLOAD_MISMATCH', message: 'The downloaded data did not match the data from the server.' }, 'integrity'],
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'transient'],
    ['wrapped reset', new Error('request failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }), 'transient'],
    ['socket hang up', new Error('socket hang up'), 'transient'],
    ['timeout', Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }), 'transient'],
    ['400', { name: 'InvalidArgument', $metadata: { httpStatusCode: 400 } }, 'permanent'],
    ['404 of a bucket op', { $metadata: { httpStatusCode: 404 } }, 'permanent'],
    ['plain bug', new TypeError('x is not a function'), 'permanent'],
  ];
  for (const [name, err, k] of cases) {
    it(`${name} → ${k}`, () => {
      assert.equal(errorKind(err).kind, k);
      assert.equal(classifyError(err, 'where').kind, k);
    });
  }

  it('a 404 means no-bucket when the caller says so', () => {
    assert.equal(errorKind({ $metadata: { httpStatusCode: 404 } }, 'no-bucket').kind, 'no-bucket');
  });

  it('writes one line with the place, the cause, the status and a hint, without secrets', () => {
    const e = classifyError(
      { name: 'AccessDenied', $metadata: { httpStatusCode: 403 }, message: 'denied for https://u:p@h/x?sig=SECRET&sv=1\nstack line' },
      's3://b/p: get cas/x',
    );
    assert.equal(e.message, 's3://b/p: get cas/x: denied for https://***@h/x?sig=***&sv=*** (HTTP 403 AccessDenied); check the credentials of the SDK (environment, profile or identity)');
    assert.equal(e.status, 403);
    const u = classifyError({ name: 'Unknown', $metadata: { httpStatusCode: 503 }, message: 'UnknownError' }, 'w');
    assert.equal(u.message, 'w: HTTP 503 Service Unavailable');
  });

  it('scrubs account keys and tokens from text', () => {
    assert.equal(scrubSecrets('AccountName=a;AccountKey=abc+/=;EndpointSuffix=x'), 'AccountName=a;AccountKey=***;EndpointSuffix=x');
    assert.equal(scrubSecrets('?X-Amz-Credential=AK/2024&X-Amz-Signature=ff'), '?X-Amz-Credential=***&X-Amz-Signature=***');
  });
});

describe('keys', () => {
  it('accepts relative slash-separated keys and nothing that could escape', () => {
    assert.equal(keyProblem('cas/ab/cdef'), undefined);
    assert.equal(keyProblem('ac/k.json'), undefined);
    for (const bad of ['', '/a', 'a/', 'a//b', '.', 'a/./b', '..', 'a/../b', 'a\\b', 'a\0b', 'x'.repeat(1025)]) {
      assert.notEqual(keyProblem(bad), undefined, JSON.stringify(bad));
    }
  });

  it('normalises prefixes', () => {
    assert.equal(normalisePrefix(''), '');
    assert.equal(normalisePrefix('/'), '');
    assert.equal(normalisePrefix('/a/b/'), 'a/b/');
    assert.throws(() => normalisePrefix('/a/../b'), BlobStoreError);
  });

  it('describes endpoints without user info or query', () => {
    assert.equal(describeEndpoint('https://u:p@host:8443/acct?sv=1&sig=2'), 'https://host:8443/acct');
    assert.equal(describeEndpoint('not a url'), '(invalid endpoint URL)');
  });
});
