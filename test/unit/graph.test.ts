import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDiagnostics } from '../../src/errors/render-diagnostic.js';
import { buildGraph } from '../../src/graph/build-graph.js';
import { findCycle, findCycles } from '../../src/graph/cycles.js';
import { criticalPathPriority } from '../../src/graph/order.js';
import { renderAscii, type TaskStatusSymbol } from '../../src/graph/render.js';
import { selectTasks } from '../../src/graph/select.js';
import type { TaskGraph } from '../../src/graph/types.js';
import { parseManifest } from '../../src/manifest/parse.js';

const FILE = 'manifest.txt';

function build(text: string) {
  const parsed = parseManifest(text, FILE, '/ws');
  assert.deepEqual(parsed.diagnostics, [], 'the test manifest itself must parse');
  return buildGraph(parsed.manifest);
}
/** The graph of a manifest that must be valid. */
function graphOf(text: string): TaskGraph {
  const { graph, diagnostics } = build(text);
  assert.deepEqual(diagnostics, []);
  assert.ok(graph);
  return graph;
}
/** Graph diagnostics as a user sees them; the graph must be withheld. */
function rendered(text: string): string {
  const { graph, diagnostics } = build(text);
  assert.equal(graph, undefined);
  return renderDiagnostics(diagnostics, new Map([[FILE, text]]), { color: false });
}
/** `task NAME { key = value ... }` blocks from a compact description. */
function manifest(tasks: Record<string, Record<string, string>>): string {
  return Object.entries(tasks)
    .map(([name, keys]) => `task ${name} {\n${Object.entries(keys).map(([k, v]) => `  ${k} = ${v}\n`).join('')}}\n`)
    .join('');
}
const edgeList = (g: TaskGraph) => g.edges.map((e) => `${e.from}->${e.to} ${e.kind}${e.via === undefined ? '' : ` via ${e.via}`}`);

describe('buildGraph', () => {
  it('builds the hello-world graph', () => {
    const g = graphOf(manifest({
      build: { cmd: 'gcc -o hello hello.c', inputs: 'hello.c', outputs: 'hello', deps: '' },
      run: { cmd: './hello', inputs: 'hello', deps: 'build' },
    }));
    assert.deepEqual(g.order, ['build', 'run']);
    assert.deepEqual(g.nodes.get('run')?.deps, ['build']);
    assert.deepEqual(g.nodes.get('build')?.dependents, ['run']);
    assert.equal(g.nodes.get('build')?.spec.cmd.value, 'gcc -o hello hello.c');
    // `run` also reads `hello`, but the declared edge already covers it.
    assert.deepEqual(edgeList(g), ['run->build declared']);
  });

  it('orders dependencies first, ties broken by manifest order', () => {
    const g = graphOf(manifest({ d: { deps: 'c' }, c: {}, b: { deps: 'a' }, a: {}, e: { deps: 'b, d' } }));
    assert.deepEqual(g.order, ['c', 'd', 'a', 'b', 'e']);
    assert.deepEqual([...g.nodes.keys()], ['d', 'c', 'b', 'a', 'e']);
    assert.deepEqual(g.nodes.get('e')?.deps, ['b', 'd']);
  });

  it('reports an unknown dependency at the dep item with a suggestion', () => {
    const text = `# reprovm example
task build {
  cmd = make
  inputs = src
  outputs = out
}

task test {
  cmd = make test
  inputs = tests
  # the dependency below has a typo
  deps = biuld
}
`;
    assert.equal(
      rendered(text),
      `manifest.txt:12:10: error: task "test" depends on unknown task "biuld"
   12 |   deps = biuld
      |          ^^^^^
  did you mean "build"?
1 error`,
    );
    assert.equal(rendered(manifest({ a: { deps: 'zzzzzz' } })).split('\n').length, 4, 'no note when nothing is close');
  });

  it('reports a task that depends on itself as a cycle', () => {
    assert.equal(
      rendered(manifest({ a: { deps: 'a' } })),
      `manifest.txt:2:10: error: dependency cycle: a -> a
    2 |   deps = a
      |          ^
  a task cannot depend on itself
1 error`,
    );
  });

  it('reports a cycle once, at its first edge', () => {
    assert.equal(
      rendered(manifest({ x: {}, a: { deps: 'x b' }, b: { deps: 'c' }, c: { deps: 'a' } })),
      `manifest.txt:4:12: error: dependency cycle: a -> b -> c -> a
    4 |   deps = x b
      |            ^
1 error`,
    );
  });

  it('reports each strongly connected tangle once, with its shortest cycle', () => {
    const { diagnostics } = build(manifest({ a: { deps: 'b c' }, b: { deps: 'a' }, c: { deps: 'a' }, d: { deps: 'e' }, e: { deps: 'd' } }));
    assert.deepEqual(diagnostics.map((d) => d.message), ['dependency cycle: a -> b -> a', 'dependency cycle: d -> e -> d']);
  });

  it('explains inferred edges in a cycle', () => {
    assert.equal(
      rendered(manifest({ gen: { inputs: 'app.o', outputs: 'gen.h' }, app: { inputs: 'gen.h', outputs: 'app.o' } })),
      `manifest.txt:2:12: error: dependency cycle: gen -> app -> gen
    2 |   inputs = app.o
      |            ^^^^^
  "gen" reads "app.o", an output of "app"
  "app" reads "gen.h", an output of "gen"
1 error`,
    );
  });

  it('reports outputs claimed twice or nested inside another task’s output', () => {
    assert.equal(
      rendered(manifest({ a: { outputs: 'out/lib hello' }, b: { outputs: 'hello out out/lib/x.o' } })),
      `manifest.txt:5:13: error: output "hello" of task "b" is also declared by task "a"
    5 |   outputs = hello out out/lib/x.o
      |             ^^^^^
  task "a" declares "hello" at manifest.txt:2:21
manifest.txt:5:19: error: output "out" of task "b" contains output "out/lib" of task "a"
    5 |   outputs = hello out out/lib/x.o
      |                   ^^^
  task "a" declares "out/lib" at manifest.txt:2:13
manifest.txt:5:23: error: output "out/lib/x.o" of task "b" is inside output "out/lib" of task "a"
    5 |   outputs = hello out out/lib/x.o
      |                       ^^^^^^^^^^^
  task "a" declares "out/lib" at manifest.txt:2:13
3 errors`,
    );
    // Within one task, nesting is the task's own business.
    graphOf(manifest({ a: { outputs: 'out out/x' } }));
  });

  it('infers edges from exact paths, output directories, containing directories and globs', () => {
    const g = graphOf(manifest({
      gen: { outputs: 'gen/config.h' },
      lib: { outputs: 'build/lib' },
      tool: { outputs: 'bin/tool' },
      dist: { outputs: 'dist' },
      self: { inputs: 'self.txt', outputs: 'self.txt' },
      exact: { inputs: 'bin/tool' },
      under: { inputs: 'build/lib/x.o' },
      parent: { inputs: 'gen' },
      glob: { inputs: 'gen/*.h' },
      walk: { inputs: 'build/**/*.o' },
      inside: { inputs: 'dist/js/*.js' },
      unanchored: { inputs: '**/*.c' },
      none: { inputs: 'bin/tool2 gen/*.c bin' },
    }));
    assert.deepEqual(edgeList(g), [
      'exact->tool inferred via bin/tool',
      'under->lib inferred via build/lib/x.o',
      'parent->gen inferred via gen',
      'glob->gen inferred via gen/*.h',
      'walk->lib inferred via build/**/*.o',
      'inside->dist inferred via dist/js/*.js',
      'none->tool inferred via bin',
    ]);
    assert.deepEqual(g.order.slice(0, 4), ['gen', 'lib', 'tool', 'dist']);
  });

  it('withholds the graph when there is any error', () => {
    const { graph, diagnostics } = build(manifest({ a: { deps: 'nope' }, b: { deps: 'b' } }));
    assert.equal(graph, undefined);
    assert.deepEqual(diagnostics.map((d) => d.code), ['unknown-dependency', 'cycle']);
  });
});

describe('findCycle', () => {
  const deps: Record<string, string[]> = { a: ['b'], b: ['c', 'z'], c: ['a'], d: [] };
  it('returns the cycle path, or undefined for an acyclic graph', () => {
    assert.deepEqual(findCycle(['d', 'c', 'b', 'a'], (n) => deps[n] ?? []), ['c', 'a', 'b', 'c']);
    assert.equal(findCycle(['a', 'b'], (n) => (n === 'a' ? ['b'] : [])), undefined);
    assert.deepEqual(findCycles(['a'], () => ['a']), [['a', 'a']]);
  });

  it('handles long chains without recursion', () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `t${i}`);
    assert.equal(findCycle(names, (n) => (n === 't49999' ? [] : [`t${Number(n.slice(1)) + 1}`])), undefined);
  });
});

const PIPELINE = manifest({
  gen: { outputs: 'gen/config.h' },
  compile: { inputs: 'gen/config.h', outputs: 'app.o' },
  lint: { deps: 'gen' },
  link: { inputs: 'app.o', deps: 'compile' },
  test: { deps: 'link lint' },
  package: { deps: 'link' },
  docs: {},
});

describe('selectTasks', () => {
  const g = graphOf(PIPELINE);
  it('selects targets and their transitive dependencies in topological order', () => {
    assert.deepEqual(selectTasks(g, ['link']), { selected: ['gen', 'compile', 'link'], diagnostics: [] });
    assert.deepEqual(selectTasks(g, ['lint', 'package', 'lint']).selected, ['gen', 'compile', 'lint', 'link', 'package']);
    assert.deepEqual(selectTasks(g, []).selected, g.order);
  });

  it('reports unknown targets with a suggestion or the list of tasks', () => {
    assert.deepEqual(selectTasks(g, ['lnik', 'docs']), {
      selected: ['docs'],
      diagnostics: [{ severity: 'error', code: 'unknown-target', message: 'unknown target "lnik"', notes: ['did you mean "link"?'] }],
    });
    assert.deepEqual(selectTasks(g, ['zzzzzz']).diagnostics[0]?.notes, ['available tasks: gen, compile, lint, link, test, package, docs']);
    const many = graphOf(manifest(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`t${i + 10}`, {}]))));
    assert.deepEqual(selectTasks(many, ['zzzzzz']).diagnostics[0]?.notes, [
      'available tasks: t10, t11, t12, t13, t14, t15, t16, t17, t18, t19, ... (2 more)',
    ]);
  });
});

describe('criticalPathPriority', () => {
  const g = graphOf(PIPELINE);
  const estimates: Record<string, number> = { gen: 100, compile: 300, lint: 50, link: 200 };
  it('sums estimated durations along the longest chain of dependents', () => {
    // Unknown tasks (test, package, docs) weigh the median of the known estimates: (100 + 200) / 2.
    const p = criticalPathPriority(g, g.order, (n) => estimates[n]);
    assert.deepEqual(Object.fromEntries(p), { gen: 750, compile: 650, lint: 200, link: 350, test: 150, package: 150, docs: 150 });
  });

  it('only counts selected dependents and weighs 1 per task without estimates', () => {
    assert.deepEqual(Object.fromEntries(criticalPathPriority(g, ['gen', 'lint'], (n) => estimates[n])), { gen: 150, lint: 50 });
    assert.deepEqual(Object.fromEntries(criticalPathPriority(g, g.order, () => undefined)), {
      gen: 4, compile: 3, lint: 2, link: 2, test: 1, package: 1, docs: 1,
    });
  });
});

describe('renderAscii', () => {
  const g = graphOf(PIPELINE);
  const states: Record<string, TaskStatusSymbol> = {
    gen: 'cached', compile: 'failed', lint: 'done', link: 'running', test: 'pending', package: 'pending', docs: 'skipped',
  };
  const status = (n: string): TaskStatusSymbol => states[n] ?? 'pending';
  it('draws a tree per root with inferred edges and shared subtrees drawn once', () => {
    assert.equal(
      renderAscii(g, g.order, status, { color: false }),
      `[ ] test
├── [✔] lint
│   └── [*] gen
└── [~] link
    └── [X] compile
        └── [*] gen (inferred)
[ ] package
└── [~] link (see above)
[-] docs`,
    );
  });

  it('draws only the selected tasks, and colours symbols on request', () => {
    assert.equal(renderAscii(g, selectTasks(g, ['lint']).selected, status, { color: false }), '[✔] lint\n└── [*] gen');
    assert.equal(
      renderAscii(g, ['gen', 'compile'], status, { color: true }),
      '\x1b[31m[X]\x1b[0m compile\n└── \x1b[36m[*]\x1b[0m gen\x1b[2m (inferred)\x1b[0m',
    );
  });
});
