import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { unknownEnvWarnings } from '../../src/config/env.js';
import { ConfigError, defaultConfig, loadConfig } from '../../src/config/load.js';
import { parseValue } from '../../src/config/parse-value.js';
import { environmentSecrets, MIN_SECRET_LENGTH, redactSecrets, secretValues } from '../../src/config/redact.js';
import { createLogger } from '../../src/log/logger.js';
import { redactValues } from '../../src/ops/audit-redact.js';
import { notifyBackoffMs } from '../../src/cli/run-audit-notify.js';

const root = mkdtempSync(path.join(tmpdir(), 'reprovm-cfgfix-'));
after(() => rmSync(root, { recursive: true, force: true }));
const NO_SYSTEM = { REPROVM_SYSTEM_CONFIG: path.join(root, 'none.conf') };

/** A configuration file in the temp dir (not named reprovm.conf, so no workspace lookup finds it). */
function conf(name: string, text: string): string {
  const file = path.join(root, `${name}.conf`);
  writeFileSync(file, text);
  return file;
}

describe('enum values are case-insensitive', () => {
  it('parseValue returns the schema spelling; warn means warning', () => {
    const level = { kind: 'enum', values: ['debug', 'info', 'warning', 'error', 'fatal'] } as const;
    assert.deepEqual(parseValue(level, 'INFO'), { ok: true, value: 'info' });
    assert.deepEqual(parseValue(level, ' Debug '), { ok: true, value: 'debug' });
    assert.deepEqual(parseValue(level, 'WARN'), { ok: true, value: 'warning' });
    assert.deepEqual(parseValue(level, 'Warning'), { ok: true, value: 'warning' });
    assert.equal(parseValue(level, 'loud').ok, false);
    // The alias applies only where the enum has the word.
    assert.equal(parseValue({ kind: 'enum', values: ['never', 'always'] }, 'warn').ok, false);
  });

  it('[logging] level and REPROVM_LOG_LEVEL accept upper case', () => {
    const file = conf('upper', '[logging]\nlevel = ERROR\n');
    assert.equal(loadConfig({ explicitFile: file, env: NO_SYSTEM }).config.logging.level, 'error');
    assert.equal(loadConfig({ env: { ...NO_SYSTEM, REPROVM_LOG_LEVEL: 'WARN' }, workspace: root }).config.logging.level, 'warning');
    assert.throws(() => loadConfig({ env: { ...NO_SYSTEM, REPROVM_LOG_LEVEL: 'LOUD' }, workspace: root }), ConfigError);
  });
});

describe('unknown REPROVM_<SECTION>_<KEY> variables', () => {
  it('warns with the closest variable of the section', () => {
    assert.deepEqual(unknownEnvWarnings({ REPROVM_EXECUTION_JBOS: '3' }), [
      'environment variable REPROVM_EXECUTION_JBOS: no such key in [execution] (did you mean REPROVM_EXECUTION_PARALLEL_JOBS?); it is ignored',
    ]);
    assert.match(unknownEnvWarnings({ REPROVM_REMOTE_ZZZZZZZZZZ: '1' })[0] ?? '', /no such key in \[remote\]; it is ignored$/);
  });

  it('never warns about keys, short names, documented variables or other REPROVM_ names', () => {
    const env = {
      REPROVM_CONFIG: 'x', REPROVM_SYSTEM_CONFIG: 'x', REPROVM_SPAWNER: 'node', REPROVM_CACHE_SIGNING_KEY: 'k',
      REPROVM_SERVER_TOKEN: 't', REPROVM_RETRY_BACKOFF_MS: '1', REPROVM_NOTIFY_BACKOFF_MS: '1', REPROVM_SKIP_NATIVE: '1',
      REPROVM_TASK: 'a', REPROVM_JOBS: '2', REPROVM_CACHE_DIR: 'd', REPROVM_LOG_LEVEL: 'info', REPROVM_LOG_FILE: 'f',
      REPROVM_REMOTE: 'r', REPROVM_EXECUTION_PARALLEL_JOBS: '2', REPROVM_SOMETHING_ELSE: '1', PATH: '/bin',
    };
    assert.deepEqual(unknownEnvWarnings(env), []);
  });

  it('loadConfig returns them with the file warnings', () => {
    const loaded = loadConfig({ env: { ...NO_SYSTEM, REPROVM_CACHE_COMPRESSOIN: 'lz4' }, workspace: root });
    assert.deepEqual(loaded.warnings, ['environment variable REPROVM_CACHE_COMPRESSOIN: no such key in [cache] (did you mean REPROVM_CACHE_COMPRESSION?); it is ignored']);
  });
});

describe('short secrets and environment secrets', () => {
  it('every redactor ignores secrets shorter than the shared minimum', () => {
    assert.equal(MIN_SECRET_LENGTH, 4);
    const config = defaultConfig();
    const withShort = { ...config, notifications: { ...config.notifications, webhook_secret: 'x' } };
    assert.deepEqual(secretValues(withShort), []);
    assert.equal(redactSecrets('extra text', withShort), 'extra text');
    const withLong = { ...config, notifications: { ...config.notifications, webhook_secret: 'xyzw' } };
    assert.equal(redactSecrets('a xyzw b', withLong), 'a *** b');
    assert.equal(redactValues(['x', 'abc'])('x abc'), 'x abc');
    assert.equal(redactValues(['abcd'])('x abcd'), 'x ***');
    assert.deepEqual(environmentSecrets({ REPROVM_CACHE_SIGNING_KEY: 'abc', REPROVM_SERVER_TOKEN: 'tok-1234', AWS_SECRET_ACCESS_KEY: 'aws-secret' }), ['tok-1234', 'aws-secret']);
  });

  it('the logger redacts extra (environment) secrets', () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const log = createLogger({ level: 'info', stderr: stream, config: defaultConfig(), extraSecrets: environmentSecrets({ REPROVM_CACHE_SIGNING_KEY: 'sign-key-42' }) });
    log.warn('bad key sign-key-42', { key: 'sign-key-42' });
    assert.equal(Buffer.concat(chunks).toString('utf8'), 'reprovm: warning: bad key *** key=***\n');
  });
});

describe('REPROVM_NOTIFY_BACKOFF_MS', () => {
  it('takes whole milliseconds; anything else warns and uses the default', () => {
    const warnings: string[] = [];
    const warn = (m: string): void => void warnings.push(m);
    assert.equal(notifyBackoffMs({}, warn), 1000);
    assert.equal(notifyBackoffMs({ REPROVM_NOTIFY_BACKOFF_MS: '25' }, warn), 25);
    assert.deepEqual(warnings, []);
    assert.equal(notifyBackoffMs({ REPROVM_NOTIFY_BACKOFF_MS: 'soon' }, warn), 1000);
    assert.equal(notifyBackoffMs({ REPROVM_NOTIFY_BACKOFF_MS: '-5' }, warn), 1000);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /REPROVM_NOTIFY_BACKOFF_MS: invalid value "soon"/);
  });
});
