import { envNamesFor } from './env.js';
import { describeType } from './parse-value.js';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type KeySpec } from './schema.js';

/**
 * The text of `reprovm.conf.example`, generated from the schema so that it documents exactly the
 * keys the loader knows. Layout: a header, then per section its `[name]` line (named sections
 * commented out, as `# [schedule.nightly]`) and one block per key separated by blank lines: `#`
 * lines of documentation, then the key's default as the block's last line, `# key = default`.
 */

const NAMED_EXAMPLE: Readonly<Record<string, { name: string; doc: string }>> = {
  schedule: { name: 'nightly', doc: 'A scheduled run of reprovm serve; any number of [schedule.NAME] sections.' },
  token: { name: 'ci', doc: 'An API token of reprovm serve; any number of [token.NAME] sections.' },
};

const HEADER = `# reprovm configuration (INI). Every key is shown commented out with its default.
#
# Looked up in this order, the first file that exists wins: --config FILE, $REPROVM_CONFIG,
# <workspace>/reprovm.conf, <workspace>/.reprovm/reprovm.conf, /etc/reprovm/reprovm.conf.
# Every key of a fixed section can be overridden by the environment variable
# REPROVM_<SECTION>_<KEY> (and the short names listed below), and command-line flags win over
# everything: flags > environment > this file > defaults.
# Durations are seconds or take a unit: 90, 90s, 15m, 2h, 1d. Booleans: true/false, yes/no,
# on/off, 1/0. Relative paths are relative to the directory of this file. ';' and '#' start a
# comment anywhere on a line: write a value that contains them in double quotes.
`;

function wrap(text: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** A default as written in the file. */
export function formatDefault(value: KeySpec['default']): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return 'inf';
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

function keyBlock(section: string | undefined, key: string, spec: KeySpec): string[] {
  const doc = spec.doc.charAt(0).toUpperCase() + spec.doc.slice(1);
  const lines = wrap(doc.endsWith('.') ? doc : `${doc}.`);
  if (spec.type.kind !== 'string') lines.push(...wrap(`Allowed: ${describeType(spec.type)}.`));
  if (section !== undefined) lines.push(...wrap(`Environment: ${envNamesFor(section, key, spec).join(', ')}.`));
  if (spec.secret) lines.push('# Secret: shown redacted by `reprovm config show`, never logged.');
  const value = formatDefault(spec.default);
  lines.push(value === '' ? `# ${key} =` : `# ${key} = ${value}`);
  return lines;
}

/** The complete `reprovm.conf.example`. */
export function renderConfExample(): string {
  const out: string[] = [HEADER];
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    out.push(`[${section}]`, '');
    for (const [key, spec] of Object.entries<KeySpec>(keys)) out.push(...keyBlock(section, key, spec), '');
  }
  for (const [kind, keys] of Object.entries(NAMED_SECTION_SCHEMA)) {
    const example = NAMED_EXAMPLE[kind] ?? { name: 'NAME', doc: `Any number of [${kind}.NAME] sections.` };
    out.push(...wrap(example.doc), `# [${kind}.${example.name}]`, '');
    for (const [key, spec] of Object.entries<KeySpec>(keys)) out.push(...keyBlock(undefined, key, spec), '');
  }
  return out.join('\n').replace(/\n+$/, '\n');
}
