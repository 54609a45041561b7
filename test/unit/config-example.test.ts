import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ini from 'ini';
import { renderConfExample } from '../../src/config/example.js';
import { defaultConfig, loadConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA } from '../../src/config/schema.js';

const EXAMPLE = fileURLToPath(new URL('../../reprovm.conf.example', import.meta.url));
const text = readFileSync(EXAMPLE, 'utf8');
const root = mkdtempSync(path.join(tmpdir(), 'reprovm-example-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The example with every documented key (and named section header) uncommented. */
function uncommented(): { text: string; keys: string[] } {
  const keys: string[] = [];
  let section = '';
  const lines = text.split('\n');
  const out = lines.map((line, i) => {
    const header = /^(?:# )?\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = (header[1] ?? '').replace(/\..*/, '');
      return line.replace(/^# /, '');
    }
    // A key block ends with its `# key = default` line, followed by a blank line.
    const key = /^# ([a-z0-9_]+) =( .*)?$/.exec(line);
    if (key && (lines[i + 1] ?? '') === '') {
      keys.push(`${section}.${key[1]}`);
      return line.slice(2);
    }
    return line;
  });
  return { text: out.join('\n'), keys };
}

function load(file: string): ReturnType<typeof loadConfig> {
  return loadConfig({ explicitFile: file, env: { REPROVM_SYSTEM_CONFIG: path.join(root, 'none') }, workspace: root });
}

describe('reprovm.conf.example', () => {
  it('is generated from the schema (node --import tsx scripts/gen-conf-example.ts)', () => {
    assert.equal(text, renderConfExample());
  });

  it('parses, and as it is yields the defaults', () => {
    assert.equal(typeof ini.parse(text), 'object');
    const l = load(EXAMPLE);
    assert.deepEqual(l.warnings, []);
    assert.deepEqual(l.config, defaultConfig());
  });

  it('documents every key of the schema and nothing else', () => {
    const expected = [
      ...Object.entries(CONFIG_SCHEMA).flatMap(([s, keys]) => Object.keys(keys).map((k) => `${s}.${k}`)),
      ...Object.entries(NAMED_SECTION_SCHEMA).flatMap(([s, keys]) => Object.keys(keys).map((k) => `${s}.${k}`)),
    ];
    assert.deepEqual(uncommented().keys, expected);
  });

  it('with every key uncommented is a valid configuration with the defaults', () => {
    const file = path.join(root, 'all.conf');
    writeFileSync(file, uncommented().text);
    const l = load(file);
    assert.deepEqual(l.warnings, []);
    const { schedule, token, ...fixed } = l.config;
    const { schedule: _s, token: _t, ...defaults } = defaultConfig();
    assert.deepEqual(fixed, defaults);
    assert.equal(schedule.length, 1);
    assert.equal(token.length, 1);
    for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
      for (const key of Object.keys(keys)) assert.equal(l.sourceOf(section, key).kind, 'file', `${section}.${key}`);
    }
  });
});
