/**
 * bench/results-file.ts: a partial benchmark run (BENCH_ONLY) keeps the sections it did not
 * measure, whether the previous RESULTS.md carries the data block or was written by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { dataBlock, keptLines, mergeResults, readResults, rowsOf, textOf, type ResultsData, type SectionKey } from '../../bench/results-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-bench-results-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OLD = `# reprovm benchmark results

- Date: 2026-01-01T00:00:00.000Z

## Targets

| target | measured | threshold | result |
|:--|:--|:--|:--|
| no-op (a) faster than make | 143 ms vs make 149 ms | reprovm < make | PASS |
| hashing (FileHasher) vs bare crypto (faster variant) | 970 MB/s vs 743 MB/s = 130% | ≥ 80% | PASS |

## Workloads

| workload | scenario | reps | reprovm |
|:--|:--|--:|--:|
| (a) 1,000 independent tasks | no-op | 5 | 143 ms |
| (d) 20 tasks, 50 MiB output each | no-op | 5 | 102 ms |

## Start-up, hashing, restore throughput

| measurement | median |
|:--|--:|
| \`node -e 0\` (10 runs) | 61 ms |
| SHA-256 of a 50 MiB file: reprovm FileHasher.hashFileUncached (54 ms) | 970 MB/s |
| (a) cold: without / with \`--strict\` (3.05 s / 5.00 s) | +64% |
| \`zstd -d\` of one 50 MiB file (zstd -3: 2.66:1) into a new file (88 ms) | 595 MB/s |

## API load (section \`load\`)

Measured on its own.

| route | requests/s |
|---|---:|
| GET /api/v1/health | 100 |

## Notes

- a fixed note
- (a) verified: the final 1000 outputs are byte-identical

## How to run
`;

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('bench results file', () => {
  it('imports a hand-edited file: rows by section, notes, and hand-written chapters', () => {
    const data = readResults(file('old.md', OLD))!;
    assert.deepEqual(Object.keys(data.sections).sort(), ['a', 'd', 'hash', 'load', 'node', 'strict']);
    assert.deepEqual(data.sections.a?.targets.map((r) => r[0]), ['no-op (a) faster than make']);
    assert.deepEqual(data.sections.hash?.micro.map((r) => r[1]), ['970 MB/s']);
    assert.deepEqual(data.sections.strict?.micro.map((r) => r[1]), ['+64%']);
    assert.deepEqual(data.sections.d?.micro.map((r) => r[1]), ['595 MB/s']);
    assert.deepEqual(data.sections.d?.workloads.map((r) => r[0]), ['(d) 20 tasks, 50 MiB output each']);
    assert.deepEqual(data.sections.a?.notes, ['(a) verified: the final 1000 outputs are byte-identical']);
    assert.match(data.sections.load?.extra ?? '', /^## API load \(section `load`\)\n\nMeasured on its own\.[\s\S]*GET \/api\/v1\/health \| 100 \|$/);
  });

  it('a partial run replaces only its sections, and the result reads back the same', () => {
    const previous = readResults(file('old2.md', OLD))!;
    const ran = new Set<SectionKey>(['node', 'hash']);
    const current: ResultsData = {
      version: 1,
      sections: {
        node: { date: 'now', targets: [], workloads: [], micro: [['`node -e 0` (1 runs)', '57 ms']], notes: [] },
        hash: { date: 'now', targets: [['hashing -- new', 'x', 'y', 'PASS']], workloads: [], micro: [['SHA-256 new', '1 GB/s']], notes: [] },
      },
    };
    const merged = mergeResults(previous, current, ran);
    assert.deepEqual(rowsOf(merged, 'targets').map((r) => r[0]), ['no-op (a) faster than make', 'hashing -- new']);
    assert.deepEqual(rowsOf(merged, 'micro').map((r) => r[1]), ['57 ms', '595 MB/s', '1 GB/s', '+64%']);
    assert.equal(rowsOf(merged, 'workloads').length, 2);
    assert.equal(textOf(merged).extras.length, 1, 'the hand-written load chapter stays');
    assert.deepEqual(keptLines(merged, ran), ['`a` (2026-01-01T00:00:00.000Z)', '`d` (2026-01-01T00:00:00.000Z)', '`strict` (2026-01-01T00:00:00.000Z)', '`load` (2026-01-01T00:00:00.000Z)']);
    // Written at the end of the Markdown (which now has other tables), it is what is read back.
    const block = dataBlock(merged);
    assert.ok(!block.slice(4, -4).includes('--'), 'no "--" inside the comment');
    assert.deepEqual(readResults(file('new.md', `# anything\n\n| x |\n\n${block}`)), merged);
  });

  it('no file: nothing to keep', () => {
    assert.equal(readResults(path.join(dir, 'missing.md')), undefined);
  });
});
