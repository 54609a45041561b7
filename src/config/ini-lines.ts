/**
 * Line numbers for an INI file. The `ini` package returns values only, so this scans the text
 * the same way it does (a line is a `[section]` header, a comment, or `key = value`) and
 * remembers where each section header and each key was last seen: the last occurrence is the one
 * whose value `ini` keeps.
 */

/** Where sections and keys are in a file; keys are looked up as (section, key), `''` before any section. */
export interface IniLines {
  sectionLine(section: string): number | undefined;
  keyLine(section: string, key: string): number | undefined;
}

const LINE = /^\[([^\]]*)\]\s*$|^([^=]+)(=(.*))?$/;

/** The same unquoting of names that `ini` applies. */
function unquote(text: string): string {
  const t = text.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) return t.slice(1, -1);
  return t;
}

/** Scans INI text for the line (1-based) of every section header and key. */
export function scanIniLines(text: string): IniLines {
  const sections = new Map<string, number>();
  const keys = new Map<string, number>();
  let section = '';
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '' || /^\s*[;#]/.test(line)) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    if (m[1] !== undefined) {
      section = unquote(m[1]);
      if (!sections.has(section)) sections.set(section, i + 1);
      continue;
    }
    let key = unquote(m[2] ?? '');
    if (key.length > 2 && key.endsWith('[]')) key = key.slice(0, -2);
    keys.set(`${section}\0${key}`, i + 1);
  }
  return {
    // `[a.b]` headers are nested by `ini` under `a`: a section without a header of its own is
    // found at its first sub-section.
    sectionLine: (s) => sections.get(s) ?? [...sections].find(([name]) => name.startsWith(`${s}.`))?.[1],
    keyLine: (s, k) => keys.get(`${s}\0${k}`),
  };
}
