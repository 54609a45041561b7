import type { Diagnostic, DiagnosticCode, SourceSpan, Spanned } from '../errors/diagnostic.js';
import { didYouMean, formatSpan } from '../errors/render-diagnostic.js';
import type { Result } from '../errors/result.js';
import type { Manifest, ParseOptions, TaskSpec } from './types.js';
import { parseBool, parseDuration, parseList, parsePath, parseRetries, type Problem } from './parse-values.js';

/*
 * Line-oriented parser for the ReproVM manifest format:
 *
 *   # comment
 *   task build {
 *     cmd = gcc -o hello hello.c
 *     inputs = hello.c
 *   }
 *
 * It never throws on bad input: every problem becomes a Diagnostic and parsing resumes at the next
 * line, so one run reports all mistakes. Tasks with an invalid or duplicate name are reported and
 * left out of the manifest (their bodies are still checked).
 */

const KEYS = ['cmd', 'inputs', 'outputs', 'deps', 'env', 'timeout', 'retries', 'cache', 'description'] as const;
type Key = (typeof KEYS)[number];
const TASK_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
/** `task` as a keyword: followed by whitespace, `{` or the end of the line (not `task = …`). */
const TASK_KEYWORD = /^task(?=[\s{]|$)(?!\s*=)/;

/** A task block being filled in. */
interface OpenTask {
  readonly name: string;
  readonly nameSpan: SourceSpan;
  readonly keywordSpan: SourceSpan;
  /** False for invalid or duplicate names: the body is checked but the task is dropped. */
  readonly keep: boolean;
  readonly seen: Map<Key, SourceSpan>;
  cmd?: Spanned<string>;
  inputs: Spanned<string>[];
  outputs: Spanned<string>[];
  deps: Spanned<string>[];
  env: Spanned<string>[];
  timeoutMs?: number;
  retries?: number;
  cache: boolean;
  description: string;
}

/**
 * Parses manifest text. `file` is the path shown in diagnostics; `workspace` is stored in the
 * manifest as-is. Diagnostics come in source order; the manifest holds the tasks that parsed.
 */
export function parseManifest(
  text: string,
  file: string,
  workspace: string,
  opts: ParseOptions = {},
): { manifest: Manifest; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const tasks: TaskSpec[] = [];
  const firstByName = new Map<string, SourceSpan>();
  const span = (line: number, col: number, length: number): SourceSpan => ({ file, line, col, length });
  const report = (code: DiagnosticCode, at: SourceSpan, message: string, ...notes: (string | undefined)[]): void => {
    const kept = notes.filter((n): n is string => n !== undefined);
    diagnostics.push({ severity: 'error', code, message, span: at, ...(kept.length > 0 ? { notes: kept } : {}) });
  };
  const reportProblem = (p: Problem, lineNo: number, baseCol: number): void =>
    report(p.code, span(lineNo, baseCol + p.offset, p.length), p.message, ...(p.notes ?? []));

  const lines = text.replace(/^\uFEFF/, '').split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  let open: OpenTask | undefined;
  /** Set after `task NAME` without `{`: the brace may come on the next non-blank line. */
  let awaitingBrace: OpenTask | undefined;

  const close = (t: OpenTask): void => {
    if (t.keep) tasks.push(finish(t));
  };
  const unclosed = (t: OpenTask, note: string): void =>
    report('manifest-syntax', t.keywordSpan, `expected "}" to close task "${t.name}" (opened at line ${t.keywordSpan.line})`, note);
  const missingBrace = (t: OpenTask): void =>
    report('manifest-syntax', span(t.nameSpan.line, t.nameSpan.col + t.nameSpan.length, 1), 'expected "{" after task name');

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i] ?? '';
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const indent = line.length - line.trimStart().length;
    const col = indent + 1;

    if (awaitingBrace !== undefined) {
      const t = awaitingBrace;
      awaitingBrace = undefined;
      if (trimmed.startsWith('{')) {
        open = t;
        afterBrace(trimmed.slice(1), lineNo, col + 1);
        continue;
      }
      // Recover: a body line means only the brace was forgotten; a `task` line starts afresh.
      missingBrace(t);
      if (TASK_KEYWORD.test(trimmed)) close(t);
      else open = t;
    }

    if (open !== undefined) {
      if (trimmed.startsWith('}')) {
        close(open);
        open = undefined;
        const rest = trimmed.slice(1).trim();
        if (rest !== '') report('manifest-syntax', span(lineNo, line.indexOf(rest, indent + 1) + 1, rest.length), 'expected a line break after "}"');
        continue;
      }
      if (!TASK_KEYWORD.test(trimmed)) {
        bodyLine(open, line, lineNo, indent);
        continue;
      }
      unclosed(open, `found "task" at line ${lineNo} before the block was closed`);
      close(open);
      open = undefined;
    }

    if (!TASK_KEYWORD.test(trimmed)) {
      report('manifest-syntax', span(lineNo, col, trimmed.length), 'expected "task NAME {"');
      continue;
    }
    taskHeader(line, lineNo, indent);
  }

  // A final newline does not start another line as far as a reader is concerned.
  const eof = `the file ends at line ${Math.max(1, lines.at(-1) === '' ? lines.length - 1 : lines.length)}`;
  if (awaitingBrace !== undefined) missingBrace(awaitingBrace);
  if (open !== undefined) unclosed(open, eof);
  const last = open ?? awaitingBrace;
  if (last !== undefined) close(last);
  // Some problems (an unclosed block) are only noticed later; report in source order regardless.
  diagnostics.sort((a, b) => (a.span?.line ?? 0) - (b.span?.line ?? 0) || (a.span?.col ?? 0) - (b.span?.col ?? 0));
  return { manifest: { file, workspace, tasks }, diagnostics };

  /** `task NAME {`, `task NAME` (brace on a later line) or `task NAME { }`. */
  function taskHeader(line: string, lineNo: number, indent: number): void {
    const keywordSpan = span(lineNo, indent + 1, 4);
    const afterKeyword = indent + 4;
    const nameStart = afterKeyword + (line.slice(afterKeyword).length - line.slice(afterKeyword).trimStart().length);
    const name = /^[^\s{}]*/.exec(line.slice(nameStart))?.[0] ?? '';
    const nameSpan = span(lineNo, nameStart + 1, Math.max(1, name.length));
    let keep = true;
    if (name === '') {
      report('manifest-syntax', nameSpan, 'expected a task name after "task"');
      keep = false;
    } else if (!TASK_NAME.test(name)) {
      report('invalid-task-name', nameSpan, `invalid task name "${name}": a name starts with a letter or _ and contains only letters, digits, _ . : -`);
      keep = false;
    } else {
      const first = firstByName.get(name);
      if (first !== undefined) {
        report('duplicate-task', nameSpan, `duplicate task "${name}"`, `first defined at ${formatSpan(first)}`);
        keep = false;
      } else firstByName.set(name, nameSpan);
    }
    const t: OpenTask = {
      name, nameSpan, keywordSpan, keep, seen: new Map(),
      inputs: [], outputs: [], deps: [], env: [], cache: true, description: '',
    };
    const restStart = nameStart + name.length;
    const rest = line.slice(restStart);
    const restTrimmed = rest.trimStart();
    const restCol = restStart + (rest.length - restTrimmed.length) + 1;
    if (restTrimmed === '') {
      awaitingBrace = t;
    } else if (restTrimmed.startsWith('{')) {
      open = t;
      afterBrace(restTrimmed.slice(1), lineNo, restCol + 1);
    } else {
      report('manifest-syntax', span(lineNo, restCol, restTrimmed.trimEnd().length), 'expected "{" after task name');
      // Still treat the following lines as this task's body: that is the likeliest intent.
      open = t;
    }
  }

  /** Text after an opening `{` on the same line: nothing, or `}` for an empty block. */
  function afterBrace(rest: string, lineNo: number, restCol: number): void {
    const trimmed = rest.trim();
    if (trimmed === '') return;
    const at = span(lineNo, restCol + (rest.length - rest.trimStart().length), trimmed.length);
    if (trimmed === '}' && open !== undefined) {
      close(open);
      open = undefined;
      return;
    }
    report('manifest-syntax', at, 'expected a line break after "{" (put each "key = value" on its own line)');
  }

  /** One `key = value` line inside a block. */
  function bodyLine(t: OpenTask, line: string, lineNo: number, indent: number): void {
    const eq = line.indexOf('=');
    if (eq < 0) {
      report('manifest-syntax', span(lineNo, indent + 1, line.trim().length), 'expected "key = value"');
      return;
    }
    const key = line.slice(0, eq).trim();
    const keySpan = span(lineNo, indent + 1, Math.max(1, key.length));
    const rawValue = line.slice(eq + 1);
    const value = rawValue.trim();
    const valueCol = eq + 2 + (rawValue.length - rawValue.trimStart().length);
    const valueSpan = span(lineNo, valueCol, Math.max(1, value.length));
    if (key === '') {
      report('manifest-syntax', span(lineNo, eq + 1, 1), 'expected a key before "="');
      return;
    }
    if (!isKey(key)) {
      // Keys are lowercase; `CMD` is too far from `cmd` by edit distance, so check case first.
      const hint = isKey(key.toLowerCase()) ? `did you mean "${key.toLowerCase()}"?` : didYouMean(key, KEYS);
      report('unknown-key', keySpan, `unknown key "${key}" in task "${t.name}"`, hint ?? `expected one of: ${KEYS.join(', ')}`);
      return;
    }
    const first = t.seen.get(key);
    if (first !== undefined) {
      report('duplicate-key', keySpan, `duplicate key "${key}" in task "${t.name}"`, `first defined at ${formatSpan(first)}`);
      return;
    }
    t.seen.set(key, keySpan);
    const problems: Problem[] = [];
    // Empty scalar values keep the default; bad ones are reported at the value.
    const apply = <T>(r: Result<T, string>, set: (v: T) => void): void => {
      if (r.ok) set(r.value);
      else report('invalid-value', valueSpan, r.error);
    };
    const items = (): Spanned<string>[] =>
      parseList(value, problems).map((item) => ({ value: item.value, span: span(lineNo, valueCol + item.offset, item.length) }));
    switch (key) {
      case 'cmd':
        t.cmd = { value, span: valueSpan };
        break;
      case 'description':
        t.description = value;
        break;
      case 'deps':
        t.deps = items();
        break;
      case 'env':
        t.env = items().filter((item) => {
          if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(item.value)) return true;
          report('invalid-value', item.span, `invalid environment variable name "${item.value}": a name starts with a letter or _ and contains only letters, digits and _`);
          return false;
        });
        break;
      case 'inputs':
      case 'outputs': {
        const kind = key === 'inputs' ? 'input' : 'output';
        const paths = items().flatMap((item) => {
          const r = parsePath(item.value, kind, opts.allowAbsoluteInputs === true);
          if (r.ok) return [{ value: r.value, span: item.span }];
          report(r.error.code, item.span, r.error.message, ...(r.error.notes ?? []));
          return [];
        });
        if (key === 'inputs') t.inputs = paths;
        else t.outputs = paths;
        break;
      }
      case 'timeout':
        if (value !== '') apply(parseDuration(value), (v) => (t.timeoutMs = v));
        break;
      case 'retries':
        if (value !== '') apply(parseRetries(value), (v) => (t.retries = v));
        break;
      case 'cache':
        if (value !== '') apply(parseBool(value), (v) => (t.cache = v));
        break;
    }
    for (const p of problems) reportProblem(p, lineNo, valueCol);
  }
}

function isKey(key: string): key is Key {
  return (KEYS as readonly string[]).includes(key);
}

function finish(t: OpenTask): TaskSpec {
  return {
    name: t.name,
    nameSpan: t.nameSpan,
    // A missing cmd points at the task name: that is where a later "no command" message should aim.
    cmd: t.cmd ?? { value: '', span: t.nameSpan },
    inputs: t.inputs,
    outputs: t.outputs,
    deps: t.deps,
    env: t.env,
    timeoutMs: t.timeoutMs,
    retries: t.retries,
    cache: t.cache,
    description: t.description,
  };
}
