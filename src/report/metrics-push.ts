/**
 * Pushing a run's metrics to a Prometheus Pushgateway at the end of a one-shot run (CI jobs,
 * which Prometheus cannot scrape). One PUT of the registry in the text format to
 * `<url>/metrics/job/<job>/instance/<instance>`: PUT replaces the group, so every push carries
 * the complete state of this run. A push never fails the run: a failure becomes one warning line.
 */
import type { Registry } from 'prom-client';
import type { Reporter } from '../events/bus.js';

export interface PushTarget {
  /** Base URL of the Pushgateway, e.g. `http://pushgateway:9091`. */
  readonly url: string;
  readonly job: string;
  readonly instance: string;
  /** Whole-request time limit (default 10 s). */
  readonly timeoutMs?: number;
}

/** A push that did not succeed; the message never contains the URL's credentials or query. */
export class PushError extends Error {
  override readonly name = 'PushError';
}

/**
 * The group path of a label value. A value with a `/` cannot be a path segment, so it is sent in
 * the Pushgateway's base64url form (`job@base64/<value>`); an empty value is `=` in that form.
 */
function groupSegment(label: string, value: string): string {
  if (value === '' || value.includes('/')) return `${label}@base64/${Buffer.from(value).toString('base64url') || '='}`;
  return `${label}/${encodeURIComponent(value)}`;
}

/** The push URL for a target, e.g. `http://gw:9091/metrics/job/reprovm/instance/ci-7`. */
export function pushUrl(target: PushTarget): string {
  const base = target.url.replace(/\/+$/, '');
  return `${base}/metrics/${groupSegment('job', target.job)}/${groupSegment('instance', target.instance)}`;
}

/** The URL without user, password, query or fragment: safe to show in a message. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '<invalid URL>';
  }
}

/** PUTs the registry to the Pushgateway. Throws {@link PushError} on any failure. */
export async function pushMetrics(registry: Registry, target: PushTarget): Promise<void> {
  let url: URL;
  try {
    url = new URL(pushUrl(target));
  } catch {
    throw new PushError(`invalid Pushgateway URL "${safeUrl(target.url)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PushError(`the Pushgateway URL must be http:// or https://, not ${url.protocol}`);
  const headers: Record<string, string> = { 'content-type': registry.contentType };
  // Credentials in the URL become basic auth: fetch refuses URLs that carry them.
  if (url.username !== '' || url.password !== '') {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const timeoutMs = target.timeoutMs ?? 10_000;
  const body = await registry.metrics();
  let response: Response;
  try {
    response = await fetch(url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : describeFetchError(error);
    throw new PushError(`could not reach the Pushgateway at ${safeUrl(target.url)}: ${cause}`);
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).trim().slice(0, 200);
    throw new PushError(`the Pushgateway at ${safeUrl(target.url)} answered ${response.status}${text ? `: ${text}` : ''}`);
  }
  await response.body?.cancel().catch(() => undefined);
}

function describeFetchError(error: unknown): string {
  // undici puts the useful part (ECONNREFUSED, ENOTFOUND) in `cause`.
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * A reporter that pushes the registry when the run's reporters close (after `run-finished` was
 * counted). A failure is one warning through `warn`; the run's exit code is untouched.
 */
export class PushgatewayReporter implements Reporter {
  readonly #registry: Registry;
  readonly #target: PushTarget;
  readonly #warn: (message: string) => void;

  constructor(registry: Registry, target: PushTarget, warn: (message: string) => void) {
    this.#registry = registry;
    this.#target = target;
    this.#warn = warn;
  }

  onEvent(): void {
    // Counting is the metrics reporter's job; this one only pushes at the end.
  }

  async close(): Promise<void> {
    try {
      await pushMetrics(this.#registry, this.#target);
    } catch (error) {
      this.#warn(`metrics not pushed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
