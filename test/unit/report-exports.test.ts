import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { RunEvent } from '../../src/events/events.js';
import { buildGraph } from '../../src/graph/build-graph.js';
import { renderDot } from '../../src/graph/render-dot.js';
import { renderMermaid } from '../../src/graph/render-mermaid.js';
import { graphView } from '../../src/graph/view.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { JunitReporter } from '../../src/report/junit-reporter.js';
import { ProfileReporter } from '../../src/report/profile-reporter.js';
import { stripIllegalXml, xmlAttr, xmlText } from '../../src/util/xml.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const summary = { total: 0, executed: 0, cached: 0, upToDate: 0, failed: 0, skipped: 0, wallMs: 100, savedMs: 0, interrupted: false };

/** Feeds events to a reporter that writes `file` on close, and returns what it wrote. */
async function written(make: (file: string) => { onEvent(e: RunEvent): void; close(): Promise<void> }, evs: RunEvent[]): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-unit-'));
  try {
    const file = path.join(dir, 'sub', 'out');
    const r = make(file);
    for (const e of evs) r.onEvent(e);
    await r.close();
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(tasks: string[], body: RunEvent[]): RunEvent[] {
  return [
    { type: 'run-started', time: at(0), runId: 'r1', workspace: '/ws', tasks, jobs: 1, dryRun: false },
    ...body,
    { type: 'run-finished', time: at(100), runId: 'r1', exitCode: 0, summary },
  ];
}

describe('xml helpers', () => {
  it('escape markup, keep quotes and line breaks inside attributes, drop what XML 1.0 forbids', () => {
    assert.equal(xmlText('a < b && c > "d" ]]>'), 'a &lt; b &amp;&amp; c &gt; "d" ]]&gt;');
    assert.equal(xmlAttr('say "hi"\n\'there\'\t!'), 'say &quot;hi&quot;&#10;&apos;there&apos;&#9;!');
    assert.equal(stripIllegalXml('\x1b[1;31mred\x1b[0m\x00\x07\uFFFE\uD800ok\u{1F600}'), 'redok\u{1F600}');
  });
});

describe('graph renderers', () => {
  it('quote what DOT and mermaid would misread', () => {
    const parsed = parseManifest('task a.b {\n  outputs = "x \\"q\\".h"\n}\n\ntask c:d {\n  inputs = "x \\"q\\".h"\n}\n', 'm.txt', '/ws');
    assert.deepEqual(parsed.diagnostics, []);
    const { graph } = buildGraph(parsed.manifest);
    assert.ok(graph);
    const view = graphView(graph, ['a.b', 'c:d'], (n) => (n === 'a.b' ? 'executed' : undefined));
    assert.match(renderDot(view), /^ {2}"c:d" -> "a\.b" \[style=dashed, label="inferred", tooltip="reads x \\"q\\"\.h"\];$/m);
    assert.match(renderMermaid(view), /^ {2}t0\["\[✔\] a\.b"\]\n {2}t1\["\[ \] c:d"\]\n {2}t1 -\.->\|inferred\| t0$/m);
  });
});

describe('ProfileReporter', () => {
  type Trace = { traceEvents: { name: string; ph: string; tid: number; ts?: number; dur?: number; cat?: string }[] };
  const spans = (json: string) => (JSON.parse(json) as Trace).traceEvents.filter((e) => e.ph === 'X' && e.name !== 'run');

  it('keeps durations exact and moves a span later rather than overlap its lane', async () => {
    // a's 12 ms do not fit between its start (0) and its finish (10): b, started at 10 on the
    // lane a freed, must begin after a's span ends.
    const json = await written((f) => new ProfileReporter(f), run(['a', 'b'], [
      { type: 'task-started', time: at(0), task: 'a', key: 'k', attempt: 1 },
      { type: 'task-finished', time: at(10), task: 'a', status: 'executed', durationMs: 12 },
      { type: 'task-started', time: at(10), task: 'b', key: 'k', attempt: 1 },
      { type: 'task-finished', time: at(20), task: 'b', status: 'failed', durationMs: 5 },
    ]));
    assert.deepEqual(spans(json).map((s) => [s.name, s.tid, s.ts, s.dur]), [['a', 1, 0, 12_000], ['b', 1, 12_000, 5_000]]);
  });

  it('puts overlapping cache hits on separate cache lanes and reuses a lane once it is free', async () => {
    const hit = { result: 'hit', source: 'local', upToDate: false, bytesRestored: 1, filesRestored: 1, savedMs: 50 } as const;
    const json = await written((f) => new ProfileReporter(f), run(['x', 'y', 'z'], [
      { type: 'task-finished', time: at(10), task: 'x', status: 'cached', durationMs: 8, cache: hit },
      { type: 'task-finished', time: at(11), task: 'y', status: 'cached', durationMs: 8, cache: hit },
      { type: 'task-finished', time: at(30), task: 'z', status: 'cached', durationMs: 5, cache: hit },
    ]));
    assert.deepEqual(spans(json).map((s) => [s.name, s.tid, s.ts, s.dur]), [['x', 1001, 2000, 8000], ['y', 1002, 3000, 8000], ['z', 1001, 25_000, 5000]]);
    const lanes = (JSON.parse(json) as { traceEvents: { name: string; tid: number; args?: { name?: string } }[] }).traceEvents
      .filter((e) => e.name === 'thread_name')
      .map((e) => e.args?.name);
    assert.deepEqual(lanes, ['run', 'cache 1', 'cache 2']);
  });
});

describe('JunitReporter', () => {
  it('writes nothing without run-finished, and bounds the output it keeps', async () => {
    await assert.rejects(
      written((f) => new JunitReporter(f), [{ type: 'run-started', time: at(0), runId: 'r', workspace: '/ws', tasks: [], jobs: 1, dryRun: false }]),
      /ENOENT/,
    );
    const line = 'x'.repeat(1000);
    const out = Array.from({ length: 2000 }, (): RunEvent => ({ type: 'task-output', time: at(1), task: 't', stream: 'stdout', line, replay: false }));
    const xml = await written((f) => new JunitReporter(f), run(['t'], [
      ...out,
      { type: 'task-finished', time: at(5), task: 't', status: 'failed', durationMs: 4, failure: { reason: 'exit-non-zero', message: 'boom', exitCode: 1 } },
    ]));
    assert.ok(xml.length < 1.1 * 2 ** 20, `${xml.length} chars`);
    assert.match(xml, /\[reprovm: \d+ more lines not kept\]<\/failure>/);
  });
});
