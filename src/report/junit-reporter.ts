import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import { xmlAttr, xmlText } from '../util/xml.js';
import { formatDuration } from './style.js';
import { writeReport } from './write-report.js';

/** Captured output kept per task: enough for a CI page, bounded for a task that floods its log. */
const MAX_OUTPUT_CHARS = 1 << 20;

interface Captured {
  readonly lines: { readonly stream: 'stdout' | 'stderr'; readonly line: string }[];
  chars: number;
  dropped: number;
}

type Finished = Extract<RunEvent, { type: 'task-finished' }>;

/**
 * `--junit FILE`: the run as a JUnit XML report for CI test dashboards, written atomically when
 * the run ends. One `<testsuite name="reprovm">` with one `<testcase>` per task in the run's
 * order: failed tasks carry `<failure>` (type = the failure reason, body = the task's output),
 * skipped ones `<skipped>`, cached ones pass with a `<system-out>` saying so (and any replayed
 * output). Everything is XML-escaped and characters XML 1.0 forbids are removed.
 */
export class JunitReporter implements Reporter {
  readonly #file: string;
  readonly #output = new Map<string, Captured>();
  readonly #cases = new Map<string, { xml: string; status: Finished['status'] }>();
  #order: readonly string[] = [];
  #runId = '';
  #workspace = '';
  #startedAt = '';
  #xml: string | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-started':
        this.#order = e.tasks;
        this.#runId = e.runId;
        this.#workspace = e.workspace;
        this.#startedAt = e.time;
        break;
      case 'task-output':
        this.#capture(e.task, e.stream, e.line);
        break;
      case 'task-finished':
        this.#cases.set(e.task, { xml: this.#testcase(e), status: e.status });
        this.#output.delete(e.task);
        break;
      case 'run-finished':
        this.#xml = this.#document(e.summary.wallMs);
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    if (this.#xml !== undefined) await writeReport(this.#file, this.#xml);
  }

  #capture(task: string, stream: 'stdout' | 'stderr', line: string): void {
    let c = this.#output.get(task);
    if (!c) this.#output.set(task, (c = { lines: [], chars: 0, dropped: 0 }));
    if (c.chars + line.length > MAX_OUTPUT_CHARS) {
      c.dropped += 1;
      return;
    }
    c.lines.push({ stream, line });
    c.chars += line.length + 1;
  }

  /** The task's output lines of one stream (or both, interleaved), with a note if some were dropped. */
  #text(task: string, stream?: 'stdout' | 'stderr'): string {
    const c = this.#output.get(task);
    if (!c) return '';
    const lines = c.lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.line);
    if (c.dropped > 0 && stream !== 'stderr') lines.push(`[reprovm: ${c.dropped} more lines not kept]`);
    return lines.join('\n');
  }

  #testcase(e: Finished): string {
    const open = `    <testcase classname="reprovm" name="${xmlAttr(e.task)}" time="${(e.durationMs / 1000).toFixed(3)}"`;
    const body: string[] = [];
    switch (e.status) {
      case 'failed': {
        const reason = e.failure?.reason ?? 'failed';
        const message = e.failure?.message ?? `task "${e.task}" failed`;
        body.push(`      <failure message="${xmlAttr(message)}" type="${xmlAttr(reason)}">${xmlText(this.#text(e.task))}</failure>`);
        break;
      }
      case 'skipped': {
        const why = e.skippedBecause === undefined || e.skippedBecause === 'interrupted' ? 'run interrupted' : `dependency "${e.skippedBecause}" failed`;
        body.push(`      <skipped message="${xmlAttr(why)}"/>`);
        break;
      }
      case 'cached': {
        const hit = e.cache?.result === 'hit' ? e.cache : undefined;
        const note = hit?.upToDate
          ? 'up to date: the outputs of the cached result were already in place'
          : `restored from cache${hit ? ` (saved ${formatDuration(hit.savedMs)})` : ''}`;
        const out = this.#text(e.task, 'stdout');
        body.push(`      <system-out>${xmlText(out === '' ? note : `${note}\n${out}`)}</system-out>`);
        this.#pushErr(body, e.task);
        break;
      }
      case 'executed': {
        const out = this.#text(e.task, 'stdout');
        if (out !== '') body.push(`      <system-out>${xmlText(out)}</system-out>`);
        this.#pushErr(body, e.task);
        break;
      }
    }
    return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`;
  }

  #pushErr(body: string[], task: string): void {
    const err = this.#text(task, 'stderr');
    if (err !== '') body.push(`      <system-err>${xmlText(err)}</system-err>`);
  }

  #document(wallMs: number): string {
    const listed = new Set(this.#order);
    const names = [...this.#order.filter((n) => this.#cases.has(n)), ...[...this.#cases.keys()].filter((n) => !listed.has(n))];
    const cases = names.map((n) => this.#cases.get(n)!);
    const count = (s: Finished['status']): number => cases.filter((c) => c.status === s).length;
    const stats = `tests="${cases.length}" failures="${count('failed')}" errors="0" skipped="${count('skipped')}" time="${(wallMs / 1000).toFixed(3)}"`;
    // JUnit's timestamp is an ISO 8601 date-time without a zone; ours is UTC.
    const timestamp = this.#startedAt.replace(/(\.\d+)?Z$/, '');
    return [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<testsuites name="reprovm" ${stats}>`,
      `  <testsuite name="reprovm" ${stats} timestamp="${xmlAttr(timestamp)}">`,
      '    <properties>',
      `      <property name="runId" value="${xmlAttr(this.#runId)}"/>`,
      `      <property name="workspace" value="${xmlAttr(this.#workspace)}"/>`,
      '    </properties>',
      ...cases.map((c) => c.xml),
      '  </testsuite>',
      '</testsuites>',
      '',
    ].join('\n');
  }
}
