/**
 * The one remote opener (src/ops/open-remote.ts): connection settings from the configuration,
 * every store wrapped in the retrying, time-bounded store, URL problems as one clean error.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LazyBlobStore } from '../../src/cache/lazy-remote.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { openConfiguredRemote, openDestination, openRemote, remoteConnection, remoteForHealth, RemoteOpenError } from '../../src/ops/open-remote.js';
import { ResilientBlobStore } from '../../src/remote/resilient-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'reprovm-open-remote-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** The configuration of a fresh workspace holding `conf` as its reprovm.conf. */
function load(conf: string, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const dir = path.join(root, `ws${counter++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'reprovm.conf'), conf);
  return loadConfig({ env: { REPROVM_SYSTEM_CONFIG: path.join(dir, 'none.conf'), ...env }, workspace: dir });
}

describe('remoteConnection', () => {
  it('takes timeouts, retries, region and endpoint from [remote], in milliseconds', () => {
    const c = remoteConnection(load('[remote]\nendpoint = http://127.0.0.1:9000\nregion = eu-west-1\nconnect_timeout_seconds = 2\nrequest_timeout_seconds = 1m\nretries = 7\n'));
    assert.deepEqual(c, { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', pathStyle: true, connectTimeoutMs: 2000, requestTimeoutMs: 60_000, retries: 7 });
  });

  it('path style is off without an endpoint, on with one, and an explicit setting wins', () => {
    assert.equal(remoteConnection(load('')).pathStyle, false);
    assert.equal(remoteConnection(load(''), 'http://127.0.0.1:1').pathStyle, true);
    assert.equal(remoteConnection(load('[remote]\nendpoint = http://127.0.0.1:9000\npath_style = false\n')).pathStyle, false);
  });

  it('an endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL turns path style on too', () => {
    assert.equal(remoteConnection(load(''), undefined, { AWS_ENDPOINT_URL_S3: 'http://minio.internal:9000' }).pathStyle, true);
    assert.equal(remoteConnection(load(''), undefined, { AWS_ENDPOINT_URL: 'http://minio.internal:9000' }).pathStyle, true);
    assert.equal(remoteConnection(load(''), undefined, { AWS_ENDPOINT_URL: '' }).pathStyle, false);
    assert.equal(remoteConnection(load('[remote]\npath_style = false\n'), undefined, { AWS_ENDPOINT_URL_S3: 'http://minio.internal:9000' }).pathStyle, false);
  });

  it('the description of a lazily opened s3 remote names the endpoint from the environment', async () => {
    const conn = { pathStyle: true, connectTimeoutMs: 1000, requestTimeoutMs: 2000, retries: 0 };
    const s3 = await openRemote('s3://bkt/p', conn, { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', AWS_ENDPOINT_URL: 'http://127.0.0.1:8' }, lazy: true });
    assert.match(s3.description, /^s3:\/\/bkt\/p \(endpoint .*127\.0\.0\.1:9.*\)$/);
    const fallback = await openRemote('s3://bkt/p', conn, { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:8' }, lazy: true });
    assert.match(fallback.description, /127\.0\.0\.1:8/);
    const gs = await openRemote('gs://bkt/p', conn, { env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:8' }, lazy: true });
    assert.equal(gs.description, 'gs://bkt/p');
  });

  it('the --remote-endpoint flag wins over the configured and environment endpoint', () => {
    const loaded = load('[remote]\nendpoint = http://127.0.0.1:9000\n', { REPROVM_REMOTE_ENDPOINT: 'http://127.0.0.1:9001' });
    assert.equal(remoteConnection(loaded).endpoint, 'http://127.0.0.1:9001');
    assert.equal(remoteConnection(loaded, 'http://127.0.0.1:9002').endpoint, 'http://127.0.0.1:9002');
  });
});

describe('openRemote', () => {
  const conn = { pathStyle: false, connectTimeoutMs: 1000, requestTimeoutMs: 2000, retries: 2 };

  it('wraps the store in the retrying, time-bounded store; relative directories resolve against cwd', async () => {
    const cwd = path.join(root, 'cwd');
    mkdirSync(path.join(cwd, 'remote'), { recursive: true });
    const store = await openRemote('remote', conn, { env: {}, cwd });
    assert.ok(store instanceof ResilientBlobStore);
    assert.equal(store.description, `dir ${path.join(cwd, 'remote')}`);
    await store.put('a/b', Buffer.from('x'));
    assert.ok(existsSync(path.join(cwd, 'remote', 'a', 'b')));
    await store.close();
  });

  it('lazily: nothing is opened until the first call', async () => {
    const store = await openRemote(path.join(root, 'lazy-missing'), conn, { env: {}, lazy: true });
    assert.ok(store instanceof LazyBlobStore);
    assert.equal(store.description, `dir ${path.join(root, 'lazy-missing')}`);
    await assert.rejects(store.has('x'), /no-bucket|does not exist/);
  });

  it('a bad URL is one RemoteOpenError saying what it was for, with credentials hidden', async () => {
    await assert.rejects(openRemote('s3://user:hunter2@bucket/p', conn, { env: {}, what: 'the backup location' }), (e: unknown) => {
      assert.ok(e instanceof RemoteOpenError);
      assert.match(e.message, /^cannot use the backup location s3:\/\/.*bucket\/p: remote URL must not contain credentials/);
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    });
  });
});

describe('configured remotes and destinations', () => {
  it('openConfiguredRemote: none without a URL or with mode = off', async () => {
    assert.equal(await openConfiguredRemote(load(''), {}, root), undefined);
    assert.equal(await openConfiguredRemote(load(`[remote]\nurl = ${root}\nmode = off\n`), {}, root), undefined);
    const store = await openConfiguredRemote(load(`[remote]\nurl = ${root}\n`), {}, root);
    assert.ok(store instanceof ResilientBlobStore);
    await store.close();
  });

  it('remoteForHealth: a URL that cannot be opened is a reason, not an exception', async () => {
    const r = await remoteForHealth(load('[remote]\nurl = ftp://host/x\n'), {}, root);
    assert.equal(r.remote, undefined);
    assert.match(r.remoteError ?? '', /^cannot use the remote cache ftp:\/\/host\/x: unknown remote scheme "ftp:\/\/"/);
  });

  it('openDestination creates a missing backup directory and retries like any remote', async () => {
    const dest = path.join(root, 'backups', 'nested');
    const store = await openDestination(dest, load('[remote]\nretries = 5\n'), {}, root);
    assert.ok(store instanceof ResilientBlobStore);
    assert.ok(existsSync(dest));
    await store.close();
  });
});
