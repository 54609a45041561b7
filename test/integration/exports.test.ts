import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import AjvModule from 'ajv';
import addFormatsModule from 'ajv-formats';
import { Rig, collect, events, waitFor } from '../helpers/rig.js';
import { findAll, parseXmlStrict, type XmlElement } from '../helpers/xml.js';

/*
 * The run's exports seen from outside: `reprovm graph` in every format, and the files written
 * by --summary, --junit and --profile, checked against their schemas and each other.
 */

const Ajv = AjvModule.default;
const addFormats = addFormatsModule.default;

// gen → compile is inferred (compile reads gen.h); docs never caches; lint fails (exit 3) with
// output that needs XML escaping: markup characters, a colour code, a control character, "]]>".
const MANIFEST = `task gen {
  cmd = printf 'int x;\\n' > gen.h
  outputs = gen.h
}

task compile {
  cmd = cat gen.h > obj.o && echo compiled
  inputs = gen.h
  outputs = obj.o
}

task docs {
  cmd = echo docs > docs.txt
  outputs = docs.txt
  cache = false
}

task lint {
  cmd = sh lint.sh
  inputs = lint.sh
}

task app {
  cmd = echo app
  deps = compile docs lint
}
`;
const LINT = `printf 'bad <input> & "quotes" \\033[31mred\\033[0m \\001\\n' >&2\necho 'line two ]]> end'\nexit 3\n`;

type Json = Record<string, unknown>;
type TraceEvent = { name: string; ph: string; tid: number; ts?: number; dur?: number; cat?: string; args?: Json };

function schema(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), 'utf8')) as Json;
}

/** The schema with `additionalProperties: false` on every object: the document has no undocumented field. */
function closed(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(closed);
  if (typeof s !== 'object' || s === null) return s;
  const out: Json = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, closed(v)]));
  if ('properties' in out) out.additionalProperties = false;
  return out;
}

/** Validates `doc` against the schema as published and against its closed variant. */
function assertValid(schemaFile: string, doc: unknown): void {
  for (const variant of [schema(schemaFile), closed(schema(schemaFile))]) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats(ajv);
    const validate = ajv.compile(variant as Json);
    assert.ok(validate(doc), `${schemaFile}: ${ajv.errorsText(validate.errors)}`);
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** task → its task-finished event from a `--json` run. */
function finishedEvents(stdout: string): Map<string, Json> {
  return new Map(events(stdout).filter((e) => e.type === 'task-finished').map((e) => [e.task as string, e]));
}

describe('exports: graph formats, run summary, JUnit, profile', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
    rig.write({ 'm.txt': MANIFEST, 'lint.sh': LINT });
  });
  afterEach(() => rig.cleanup());

  /** Two runs with -k: the first executes gen and compile; the second restores gen and finds compile up to date. */
  async function twoRuns(): Promise<{ first: { stdout: string }; second: { stdout: string } }> {
    const first = await rig.run(['-j', '1', '-k', '--json', '--summary', 'out/first.json', 'm.txt']);
    assert.equal(first.code, 1, first.stderr);
    rmSync(rig.path('gen.h')); // the second run restores it from the cache
    const second = await rig.run(['-j', '1', '-k', '--json', '--summary', 'out/second.json', '--junit', 'out/junit.xml', 'm.txt']);
    assert.equal(second.code, 1, second.stderr);
    return { first, second };
  }

  test('graph: ascii, dot and mermaid goldens with statuses of the last run and the inferred edge dashed', async () => {
    const before = await rig.run(['graph', 'm.txt']);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout, '[ ] app\n├── [ ] compile\n│   └── [ ] gen (inferred)\n├── [ ] docs\n└── [ ] lint\n');
    await twoRuns();

    const ascii = await rig.run(['graph', '--format', 'ascii', 'm.txt']);
    assert.equal(ascii.stdout, '[-] app\n├── [*] compile\n│   └── [*] gen (inferred)\n├── [✔] docs\n└── [X] lint\n');
    // The run command's --graph is unchanged and agrees.
    assert.equal((await rig.run(['--graph', 'm.txt'])).stdout, ascii.stdout);

    const dot = await rig.run(['graph', '--format', 'dot', 'm.txt']);
    assert.equal(dot.code, 0, dot.stderr);
    assert.equal(
      dot.stdout,
      [
        'digraph reprovm {',
        "  // edges: task -> dependency; dashed = inferred (the task reads the dependency's output)",
        '  node [shape=box, style="rounded,filled", fillcolor="white", fontname="Helvetica"];',
        '  "gen" [label="[*] gen", fillcolor="#b3e5fc"];',
        '  "compile" [label="[*] compile", fillcolor="#b3e5fc"];',
        '  "docs" [label="[✔] docs", fillcolor="#c8e6c9"];',
        '  "lint" [label="[X] lint", fillcolor="#ffcdd2"];',
        '  "app" [label="[-] app", fillcolor="#eeeeee"];',
        '  "app" -> "compile";',
        '  "app" -> "docs";',
        '  "app" -> "lint";',
        '  "compile" -> "gen" [style=dashed, label="inferred", tooltip="reads gen.h"];',
        '}',
        '',
      ].join('\n'),
    );

    const mermaid = await rig.run(['graph', '--format', 'mermaid', 'm.txt']);
    assert.equal(
      mermaid.stdout,
      [
        'flowchart TD',
        "  %% edges: task --> dependency; dotted = inferred (the task reads the dependency's output)",
        '  t0["[*] gen"]',
        '  t1["[*] compile"]',
        '  t2["[✔] docs"]',
        '  t3["[X] lint"]',
        '  t4["[-] app"]',
        '  t4 --> t1',
        '  t4 --> t2',
        '  t4 --> t3',
        '  t1 -.->|inferred| t0',
        '  classDef executed fill:#c8e6c9,stroke:#2e7d32',
        '  class t2 executed',
        '  classDef cached fill:#b3e5fc,stroke:#0277bd',
        '  class t0,t1 cached',
        '  classDef failed fill:#ffcdd2,stroke:#c62828',
        '  class t3 failed',
        '  classDef skipped fill:#eeeeee,stroke:#9e9e9e,color:#757575',
        '  class t4 skipped',
        '',
      ].join('\n'),
    );

    // Targets select the same way as for a run.
    const part = await rig.run(['graph', '--format', 'mermaid', 'm.txt', 'compile']);
    assert.match(part.stdout, /^ {2}t0\["\[\*\] gen"\]\n {2}t1\["\[\*\] compile"\]\n {2}t1 -\.->\|inferred\| t0\n/m);
    assert.doesNotMatch(part.stdout, /lint|app|docs/);

    const bad = await rig.run(['graph', '--format', 'svg', 'm.txt']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are ascii, dot, mermaid, json/);
  });

  test('graph: DOT is accepted by Graphviz', async (t) => {
    if (!onPath('dot')) {
      t.skip('Graphviz `dot` is not on PATH: DOT syntax not checked by Graphviz (the golden test still runs)');
      return;
    }
    await twoRuns();
    const dot = await rig.run(['graph', '--format', 'dot', 'm.txt']);
    const svg = execFileSync('dot', ['-Tsvg'], { input: dot.stdout }).toString();
    assert.match(svg, /<svg/);
    assert.match(svg, /stroke-dasharray/); // the dashed inferred edge
  });

  test('graph: JSON follows schemas/graph.schema.json, with the inferred edge as kind "inferred"', async () => {
    await twoRuns();
    const r = await rig.run(['graph', '--format', 'json', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      schemaVersion: number;
      workspace: string;
      targets: string[];
      tasks: { name: string; status: string }[];
      edges: { from: string; to: string; kind: string; via: string | null }[];
    };
    assertValid('graph.schema.json', doc);
    assert.equal(doc.schemaVersion, 1);
    assert.deepEqual(doc.targets, []);
    assert.deepEqual(
      doc.tasks.map((t) => [t.name, t.status]),
      [['gen', 'cached'], ['compile', 'cached'], ['docs', 'executed'], ['lint', 'failed'], ['app', 'skipped']],
    );
    assert.deepEqual(doc.edges.find((e) => e.from === 'compile'), { from: 'compile', to: 'gen', kind: 'inferred', via: 'gen.h' });
    assert.deepEqual(doc.edges.find((e) => e.to === 'lint'), { from: 'app', to: 'lint', kind: 'declared', via: null });
    // Never run: every status is not-run, still valid.
    const fresh = new Rig();
    try {
      fresh.write({ 'm.txt': MANIFEST, 'lint.sh': LINT });
      const doc2 = JSON.parse((await fresh.run(['graph', '--format', 'json', 'm.txt', 'compile'])).stdout) as { tasks: { status: string }[]; targets: string[] };
      assertValid('graph.schema.json', doc2);
      assert.deepEqual(doc2.targets, ['compile']);
      assert.deepEqual(doc2.tasks.map((t) => t.status), ['not-run', 'not-run']);
    } finally {
      fresh.cleanup();
    }
  });

  test('--summary: valid against schemas/run-summary.schema.json, agreeing with the events and the files', async () => {
    const { first, second } = await twoRuns();
    type TaskSummary = {
      name: string;
      status: string;
      key: string | null;
      cacheSource: string | null;
      upToDate: boolean | null;
      missReason: string | null;
      attempts: number;
      durationMs: number;
      savedMs: number;
      failure: { reason: string; message: string; exitCode?: number } | null;
      skippedBecause: string | null;
      outputs: { path: string; kind: string; digest?: string }[];
    };
    type Summary = { runId: string; exitCode: number; interrupted: boolean; counts: Json; savedMs: number; tasks: TaskSummary[]; startedAt: string; finishedAt: string };
    const s1 = JSON.parse(rig.read('out/first.json')) as Summary;
    const s2 = JSON.parse(rig.read('out/second.json')) as Summary;
    assertValid('run-summary.schema.json', s1);
    assertValid('run-summary.schema.json', s2);

    const byName = (s: Summary): Map<string, TaskSummary> => new Map(s.tasks.map((t) => [t.name, t]));
    assert.equal(s1.exitCode, 1);
    assert.equal(s1.interrupted, false);
    assert.deepEqual(s1.counts, { total: 5, executed: 3, cached: 0, failed: 1, skipped: 1 });
    const runStarted = events(first.stdout).find((e) => e.type === 'run-started');
    assert.equal(s1.runId, runStarted?.runId);
    assert.deepEqual(s1.tasks.map((t) => t.name), runStarted?.tasks);

    const t1 = byName(s1);
    const gen1 = t1.get('gen')!;
    assert.equal(gen1.status, 'executed');
    assert.equal(gen1.missReason, 'no-record');
    assert.equal(gen1.cacheSource, null);
    assert.equal(gen1.attempts, 1);
    assert.deepEqual(gen1.outputs, [{ path: 'gen.h', kind: 'file', digest: sha256(rig.path('gen.h')) }]);
    assert.equal(t1.get('docs')?.missReason, 'cache-disabled');
    assert.deepEqual(t1.get('lint')?.failure, { reason: 'exit-non-zero', message: 'task "lint" failed with exit code 3', exitCode: 3 });
    assert.deepEqual(t1.get('lint')?.outputs, []);
    assert.equal(t1.get('app')?.status, 'skipped');
    assert.equal(t1.get('app')?.skippedBecause, 'lint');
    assert.equal(t1.get('app')?.key, null);

    // Durations are the task-finished events' own.
    for (const [name, e] of finishedEvents(first.stdout)) assert.equal(t1.get(name)?.durationMs, e.durationMs, name);
    for (const [name, e] of finishedEvents(second.stdout)) assert.equal(byName(s2).get(name)?.durationMs, e.durationMs, name);

    // Second run: gen restored, compile up to date; both report their outputs with digests.
    assert.deepEqual(s2.counts, { total: 5, executed: 1, cached: 2, failed: 1, skipped: 1 });
    const t2 = byName(s2);
    const gen2 = t2.get('gen')!;
    assert.deepEqual(
      { status: gen2.status, cacheSource: gen2.cacheSource, upToDate: gen2.upToDate, missReason: gen2.missReason, savedMs: gen2.savedMs },
      { status: 'cached', cacheSource: 'local', upToDate: false, missReason: null, savedMs: gen1.durationMs },
    );
    assert.equal(gen2.key, gen1.key);
    assert.deepEqual(gen2.outputs, gen1.outputs);
    const compile2 = t2.get('compile')!;
    assert.equal(compile2.upToDate, true);
    assert.deepEqual(compile2.outputs, [{ path: 'obj.o', kind: 'file', digest: sha256(rig.path('obj.o')) }]);
    assert.equal(s2.savedMs, gen2.savedMs + compile2.savedMs);
    assert.ok(Date.parse(s2.startedAt) <= Date.parse(s2.finishedAt));

    // The same outputs are in the --json events (task-finished.outputs).
    assert.deepEqual(finishedEvents(second.stdout).get('compile')?.outputs, compile2.outputs);
  });

  test('--junit: XML valid against the JUnit schema, with counts, failure text, skips and cache hits', async (t) => {
    await twoRuns();
    const xml = rig.read('out/junit.xml');
    if (onPath('xmllint')) {
      // The JUnit schema CI systems read (test/fixtures/junit.xsd); xmllint exits non-zero if invalid.
      const xsd = fileURLToPath(new URL('../fixtures/junit.xsd', import.meta.url));
      execFileSync('xmllint', ['--noout', '--schema', xsd, rig.path('out/junit.xml')], { stdio: 'pipe' });
    } else {
      t.diagnostic('xmllint not installed (apt-get install libxml2-utils): schema validation skipped');
    }
    const root = parseXmlStrict(xml);
    assert.equal(root.name, 'testsuites');
    const suites = findAll(root, 'testsuite');
    assert.equal(suites.length, 1);
    const suite = suites[0]!;
    assert.equal(suite.attrs.name, 'reprovm');
    assert.deepEqual(
      { tests: suite.attrs.tests, failures: suite.attrs.failures, errors: suite.attrs.errors, skipped: suite.attrs.skipped },
      { tests: '5', failures: '1', errors: '0', skipped: '1' },
    );
    assert.match(suite.attrs.time ?? '', /^\d+\.\d{3}$/);
    const cases = new Map(findAll(suite, 'testcase').map((c) => [c.attrs.name ?? '', c] as const));
    assert.deepEqual([...cases.keys()].sort(), ['app', 'compile', 'docs', 'gen', 'lint']);
    for (const c of cases.values()) {
      assert.equal(c.attrs.classname, 'reprovm');
      assert.match(c.attrs.time ?? '', /^\d+\.\d{3}$/);
    }
    const only = (c: XmlElement | undefined, name: string): XmlElement => {
      const found = c?.children.filter((x) => x.name === name) ?? [];
      assert.equal(found.length, 1, `one <${name}> in ${c?.attrs.name}`);
      return found[0]!;
    };
    const failure = only(cases.get('lint'), 'failure');
    assert.equal(failure.attrs.type, 'exit-non-zero');
    assert.equal(failure.attrs.message, 'task "lint" failed with exit code 3');
    // The captured output, escaped on the way in and intact on the way out, minus what XML forbids.
    assert.match(failure.text, /bad <input> & "quotes" red \n/);
    assert.match(failure.text, /line two \]\]> end/);
    assert.doesNotMatch(failure.text, /[\x00-\x08\x1b]/);
    assert.equal(only(cases.get('app'), 'skipped').attrs.message, 'dependency "lint" failed');
    assert.match(only(cases.get('gen'), 'system-out').text, /^restored from cache/);
    assert.match(only(cases.get('compile'), 'system-out').text, /^up to date/);
    assert.equal(cases.get('compile')?.children.some((x) => x.name === 'failure' || x.name === 'skipped'), false);
    assert.equal(cases.get('docs')?.children.length, 0);
  });

  test('--profile: a Chrome trace whose lanes never overlap and whose spans last what the events say', async () => {
    // a and b wait for each other, so two commands certainly run at once; flaky fails once, then passes.
    const wait = (me: string, other: string): string =>
      `touch ${me}.started; i=0; while [ ! -e ${other}.started ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; echo ${me} > ${me}.txt`;
    rig.write({
      'p.txt': `task a {\n  cmd = ${wait('a', 'b')}\n  outputs = a.txt\n}\n\ntask b {\n  cmd = ${wait('b', 'a')}\n  outputs = b.txt\n}\n\n` +
        'task c {\n  cmd = sleep 0.05; echo c > c.txt\n  inputs = a.txt\n  outputs = c.txt\n}\n\n' +
        'task flaky {\n  cmd = if [ -e tried ]; then echo ok > flaky.txt; else touch tried; exit 1; fi\n  outputs = flaky.txt\n  retries = 1\n}\n',
    });
    const cold = await rig.run(['-j', '2', '--json', '--profile', 'trace/cold.json', 'p.txt']);
    assert.equal(cold.code, 0, cold.stderr);
    for (const f of ['a.txt', 'c.txt']) rmSync(rig.path(f));
    const warm = await rig.run(['-j', '2', '--json', '--profile', 'trace/warm.json', 'p.txt']);
    assert.equal(warm.code, 0, warm.stderr);

    for (const [file, run, lanePrefix] of [['trace/cold.json', cold, 'worker'], ['trace/warm.json', warm, 'cache']] as const) {
      const trace = JSON.parse(rig.read(file)) as { traceEvents: TraceEvent[] };
      const spans = trace.traceEvents.filter((e) => e.ph === 'X');
      const laneNames = new Map(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, String(e.args?.name)]));
      // Every span is on a named lane, with integer µs times.
      for (const s of spans) {
        assert.ok(laneNames.has(s.tid), `lane ${s.tid} of ${s.name} has a name`);
        assert.ok(Number.isInteger(s.ts) && Number.isInteger(s.dur) && (s.ts ?? -1) >= 0 && (s.dur ?? -1) >= 0, JSON.stringify(s));
      }
      // Lanes never overlap.
      for (const tid of new Set(spans.map((s) => s.tid))) {
        const lane = spans.filter((s) => s.tid === tid).sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
        for (let i = 1; i < lane.length; i++) {
          const prev = lane[i - 1]!;
          assert.ok((prev.ts ?? 0) + (prev.dur ?? 0) <= (lane[i]!.ts ?? 0), `${file}: ${prev.name} overlaps ${lane[i]!.name} on lane ${laneNames.get(tid)}`);
        }
      }
      // One span per finished task, lasting exactly its durationMs, on the expected kind of lane.
      for (const [task, e] of finishedEvents(run.stdout)) {
        const own = spans.filter((s) => s.name === task && s.cat === e.status);
        assert.equal(own.length, 1, `${file}: one span for ${task}`);
        assert.equal(own[0]!.dur, (e.durationMs as number) * 1000, `${file}: duration of ${task}`);
        assert.match(laneNames.get(own[0]!.tid) ?? '', new RegExp(`^${lanePrefix} \\d+$`), `${file}: lane of ${task}`);
      }
      const workers = [...laneNames.values()].filter((n) => n.startsWith('worker '));
      if (file === 'trace/cold.json') {
        assert.deepEqual(workers.sort(), ['worker 1', 'worker 2'], 'two concurrent commands, -j 2: two worker lanes');
        const attempt = spans.filter((s) => s.cat === 'attempt');
        assert.deepEqual(attempt.map((s) => s.name), ['flaky']);
        assert.equal(attempt[0]!.tid, spans.find((s) => s.name === 'flaky' && s.cat === 'executed')?.tid, 'the retry stays on its lane');
      } else {
        // a and c restored, b and flaky up to date: no command ran.
        assert.deepEqual(workers, []);
      }
      assert.ok(spans.some((s) => s.name === 'run' && laneNames.get(s.tid) === 'run'));
    }
  });

  test('reports are written for an interrupted run too, and refused with --dry-run', async () => {
    rig.write({ 'i.txt': 'task slow {\n  cmd = echo going; touch started; sleep 30\n}\n' });
    const child = rig.spawn(['--summary', 's.json', '--junit', 'j.xml', '--profile', 'p.json', 'i.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('started'), 20_000, 'task start');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    const s = JSON.parse(rig.read('s.json')) as { exitCode: number; interrupted: boolean; tasks: { failure: { reason: string } | null }[] };
    assertValid('run-summary.schema.json', s);
    assert.equal(s.exitCode, 130);
    assert.equal(s.interrupted, true);
    assert.equal(s.tasks[0]?.failure?.reason, 'interrupted');
    const failure = findAll(parseXmlStrict(rig.read('j.xml')), 'failure')[0];
    assert.equal(failure?.attrs.type, 'interrupted');
    assert.match(failure?.text ?? '', /going/);
    assert.ok((JSON.parse(rig.read('p.json')) as { traceEvents: unknown[] }).traceEvents.length > 0);

    const dry = await rig.run(['-n', '--summary', 'd.json', 'i.txt']);
    assert.equal(dry.code, 2);
    assert.match(dry.stderr, /option '--summary <file>' cannot be used with option '-n, --dry-run'/);
    assert.equal(rig.exists('d.json'), false);
  });
});
