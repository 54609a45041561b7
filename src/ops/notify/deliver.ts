/**
 * One webhook delivery: POST with a per-attempt timeout (AbortSignal.timeout), retried with
 * exponential backoff on network errors, timeouts, 429 and 5xx (a 429's Retry-After is honoured
 * up to {@link MAX_DELAY_MS}); any other status is final. An outer `signal` (the run's overall
 * notification deadline) stops everything at once. The result never contains the URL: webhook
 * URLs are secrets.
 */
import { abortableSleep } from '../../util/sleep.js';

const MAX_DELAY_MS = 10_000;

export interface DeliveryOptions {
  readonly timeoutMs: number;
  /** Extra attempts after the first. */
  readonly retries: number;
  /** First backoff delay; doubles per retry. */
  readonly backoffMs: number;
  /** Aborts the delivery (and its waits) from outside. */
  readonly signal?: AbortSignal;
}

export interface DeliveryResult {
  readonly ok: boolean;
  readonly attempts: number;
  /** HTTP status of the last answer, if there was one. */
  readonly status?: number;
  /** Why it failed, without the URL: `HTTP 500`, `timed out after 10s`, `network error (ECONNREFUSED)`. */
  readonly error?: string;
}

function describeFetchError(error: unknown, timeoutMs: number, signal?: AbortSignal): string {
  if (signal?.aborted) return 'gave up at the notification deadline';
  const e = error as { name?: string; cause?: { code?: string } } | undefined;
  if (e?.name === 'TimeoutError') return `timed out after ${timeoutMs / 1000}s`;
  const code = e?.cause?.code;
  // Only the error code: messages of network errors can carry the host and path.
  return code ? `network error (${code})` : 'network error';
}


function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (v === null) return undefined;
  const secs = Number(v);
  return Number.isFinite(secs) && secs >= 0 ? secs * 1000 : undefined;
}

/** POSTs `body` to `url` with `headers`, retrying as described above. */
export async function deliver(url: string, body: string, headers: Record<string, string>, opts: DeliveryOptions): Promise<DeliveryResult> {
  let attempts = 0;
  let last: DeliveryResult = { ok: false, attempts: 0, error: 'not attempted' };
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (opts.signal?.aborted) break;
    attempts++;
    let delay = opts.backoffMs * 2 ** attempt;
    try {
      const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
      const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.any(signals), redirect: 'error' });
      // Drain the body so the connection is released.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts, status: res.status };
      last = { ok: false, attempts, status: res.status, error: `HTTP ${res.status}` };
      if (res.status !== 429 && res.status < 500) return last;
      if (res.status === 429) delay = retryAfterMs(res) ?? delay;
    } catch (error) {
      last = { ok: false, attempts, error: describeFetchError(error, opts.timeoutMs, opts.signal) };
    }
    if (attempt < opts.retries) await abortableSleep(Math.min(delay, MAX_DELAY_MS), opts.signal);
  }
  return { ...last, attempts };
}
