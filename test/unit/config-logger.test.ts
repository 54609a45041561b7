import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger, parseLogLevel } from '../../src/log/logger.js';

const root = mkdtempSync(path.join(tmpdir(), 'reprovm-log-'));
after(() => rmSync(root, { recursive: true, force: true }));

function stderr(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('logger', () => {
  it('writes human lines at or above the level to stderr', () => {
    const err = stderr();
    const log = createLogger({ level: 'warning', stderr: err.stream, config: defaultConfig() });
    log.debug('d');
    log.info('i');
    log.warn('careful', { file: 'a b.conf', n: 3 });
    log.error('bad');
    log.fatal('dead');
    assert.equal(err.text(), 'reprovm: warning: careful file="a b.conf" n=3\nreprovm: error: bad\nreprovm: fatal: dead\n');
  });

  it('appends JSON lines (time, level, msg, fields) to the log file', () => {
    const file = path.join(root, 'sub', 'reprovm.log');
    const log = createLogger({ level: 'debug', file, stderr: stderr().stream, config: defaultConfig() });
    log.debug('configuration loaded', { file: '/x.conf' });
    log.info('plain');
    log.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.match(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual({ ...lines[0], time: 0 }, { time: 0, level: 'debug', msg: 'configuration loaded', fields: { file: '/x.conf' } });
    assert.deepEqual({ ...lines[1], time: 0 }, { time: 0, level: 'info', msg: 'plain' });
  });

  it('never writes a secret, on the console or in the file', () => {
    const base = defaultConfig();
    const config = { ...base, remote: { ...base.remote, url: 's3://CANARY-bucket/p' } } as Config;
    const file = path.join(root, 'secret.log');
    const err = stderr();
    const log = createLogger({ level: 'info', file, stderr: err.stream, config });
    log.error('remote s3://CANARY-bucket/p failed', { url: 's3://CANARY-bucket/p', other: 'https://u:pw@h/' });
    log.close();
    assert.doesNotMatch(err.text() + readFileSync(file, 'utf8'), /CANARY|u:pw/);
  });

  it('keeps logging to the console when the file cannot be opened (one warning)', () => {
    const err = stderr();
    const log = createLogger({ level: 'info', file: path.join(root, 'secret.log', 'x', 'y.log'), stderr: err.stream, config: defaultConfig() });
    log.info('still here');
    log.info('and here');
    assert.equal(err.text().match(/cannot write the log file/g)?.length, 1);
    assert.match(err.text(), /reprovm: info: still here\nreprovm: info: and here\n$/);
  });

  it('parses level names', () => {
    assert.equal(parseLogLevel('WARN'), 'warning');
    assert.equal(parseLogLevel('debug'), 'debug');
    assert.equal(parseLogLevel('verbose'), undefined);
  });
});
