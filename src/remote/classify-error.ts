/**
 * Turns whatever an SDK or socket throws into a {@link BlobStoreError} of the right kind, so the
 * layers above decide on kinds only: retry `transient`, report `auth` once, `no-bucket` is a
 * configuration problem. The three SDKs put the facts in different places (AWS: `name` and
 * `$metadata.httpStatusCode`; Azure: `statusCode` and `code`/`details.errorCode`; GCS/gaxios:
 * numeric `code`/`status` and `errors[].reason`), and network failures arrive as Node error
 * codes, possibly wrapped in a `cause` chain; all of them are looked at.
 */
import { STATUS_CODES } from 'node:http';
import { BlobStoreError, type BlobStoreErrorKind } from './blob-store.js';

/** What a 404 without a more specific code means for the operation that got it. */
export type NotFoundMeaning = 'no-bucket' | 'permanent';

const AUTH_CODES = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'AuthorizationFailure', 'AuthenticationFailed', 'AuthorizationPermissionMismatch',
  'InsufficientAccountPermissions', 'CredentialsProviderError', 'CredentialsError', 'forbidden', 'unauthorized',
  'AccountIsDisabled', 'InvalidAuthenticationInfo', 'ERR_INVALID_CREDENTIALS',
]);
const NO_BUCKET_CODES = new Set(['NoSuchBucket', 'ContainerNotFound', 'ContainerBeingDeleted']);
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EAI_AGAIN', 'ENOTFOUND', 'ESOCKETTIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException',
  'SlowDown', 'ServiceUnavailable', 'InternalError', 'ThrottlingException', 'ServerBusy', 'OperationTimedOut',
  'REQUEST_SEND_ERROR', 'AbortError', 'ABORT_ERR', 'rateLimitExceeded', 'backendError',
]);
/** Bodies that do not match their checksum or announced length. */
const INTEGRITY_CODES = new Set(['CONTENT_DOWNLOAD_MISMATCH', 'FILE_NO_UPLOAD', 'BadDigest', 'InvalidDigest', 'Md5Mismatch', 'Crc64Mismatch', 'MD5_NOT_AVAILABLE']);
const INTEGRITY_MESSAGES = /received less data than required|data corruption|did not match the data from the server/i;
const TRANSIENT_MESSAGES = /socket hang up|ECONNRESET|ECONNREFUSED|ETIMEDOUT|timed? ?out|aborted|network error|other side closed/i;

interface Facts {
  status?: number;
  codes: string[];
  messages: string[];
}

/** Collects status codes, error codes and messages along the `cause` chain. */
function facts(e: unknown): Facts {
  const out: Facts = { codes: [], messages: [] };
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (typeof cur === 'object' && cur !== null && !seen.has(cur)) {
    seen.add(cur);
    const o = cur as Record<string, unknown>;
    const meta = o.$metadata as { httpStatusCode?: unknown } | undefined;
    const response = o.response as { status?: unknown; statusCode?: unknown } | undefined;
    for (const s of [meta?.httpStatusCode, o.statusCode, o.status, response?.status, response?.statusCode, o.code]) {
      if (out.status === undefined && typeof s === 'number' && s >= 100 && s < 600) out.status = s;
    }
    for (const c of [o.name, o.code, o.Code, (o.details as { errorCode?: unknown } | undefined)?.errorCode]) {
      if (typeof c === 'string' && c !== '' && c !== 'Error') out.codes.push(c);
    }
    const errors = o.errors;
    if (Array.isArray(errors)) {
      for (const x of errors as unknown[]) {
        const r = (x as { reason?: unknown } | null)?.reason;
        if (typeof r === 'string') out.codes.push(r);
        if (x instanceof Error) out.messages.push(x.message); // AggregateError of connect attempts
        const xc = (x as { code?: unknown } | null)?.code;
        if (typeof xc === 'string') out.codes.push(xc);
      }
    }
    if (typeof o.message === 'string' && o.message !== '') out.messages.push(o.message);
    cur = o.cause;
  }
  return out;
}

/** The kind an error belongs to (see {@link classifyError}). */
/** The HTTP status an SDK error carries (anywhere along its `cause` chain), if any. */
export function httpStatus(e: unknown): number | undefined {
  return facts(e).status;
}

export function errorKind(e: unknown, notFound: NotFoundMeaning = 'permanent'): { kind: BlobStoreErrorKind; status?: number } {
  if (e instanceof BlobStoreError) return { kind: e.kind, ...(e.status === undefined ? {} : { status: e.status }) };
  const f = facts(e);
  const st = f.status === undefined ? {} : { status: f.status };
  if (f.codes.some((c) => NO_BUCKET_CODES.has(c))) return { kind: 'no-bucket', ...st };
  if (f.status === 401 || f.status === 403 || f.codes.some((c) => AUTH_CODES.has(c))) return { kind: 'auth', ...st };
  if (f.codes.some((c) => INTEGRITY_CODES.has(c)) || f.messages.some((m) => INTEGRITY_MESSAGES.test(m))) return { kind: 'integrity', ...st };
  if (f.status !== undefined && (f.status >= 500 || f.status === 429 || f.status === 408)) return { kind: 'transient', ...st };
  if (f.status === 404) return { kind: notFound, ...st };
  if (f.codes.some((c) => TRANSIENT_CODES.has(c))) return { kind: 'transient', ...st };
  if (f.status === undefined && f.messages.some((m) => TRANSIENT_MESSAGES.test(m))) return { kind: 'transient' };
  return { kind: 'permanent', ...st };
}

/**
 * Wraps `e` as a {@link BlobStoreError}: `what` says where (`s3://bucket/prefix: get cas/ab…`),
 * the message keeps the SDK's first line with anything secret-looking removed.
 */
export function classifyError(e: unknown, what: string, notFound: NotFoundMeaning = 'permanent'): BlobStoreError {
  if (e instanceof BlobStoreError) return e;
  const { kind, status } = errorKind(e, notFound);
  const f = facts(e);
  let detail = scrubSecrets((f.messages[0] ?? f.codes[0] ?? String(e)).split('\n')[0] ?? '');
  // SDKs that cannot parse an error body say so ("UnknownError", "XML parse error", a raw JSON
  // body); the status line is the more useful fact then.
  if (status !== undefined && (UNHELPFUL.test(detail) || detail === '')) detail = `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
  const code = f.codes.find((c) => c !== detail && !GENERIC_CODES.has(c));
  const label = [detail.startsWith('HTTP ') || status === undefined ? undefined : `HTTP ${status}`, code].filter((x) => x !== undefined).join(' ');
  const hint = HINTS[kind];
  const message = `${what}: ${detail}${label === '' ? '' : ` (${label})`}${hint === '' ? '' : `; ${hint}`}`;
  return new BlobStoreError(kind, message, status, { cause: e });
}

const UNHELPFUL = /^(UnknownError|Unknown|RestError|Error)$|parse error|^\{"error"/i;
const GENERIC_CODES = new Set(['Unknown', 'UnknownError', 'RestError', 'Error', 'FetchError', 'GaxiosError', 'ApiError']);

const HINTS: Record<BlobStoreErrorKind, string> = {
  transient: '',
  auth: 'check the credentials of the SDK (environment, profile or identity)',
  'no-bucket': 'create it or run `reprovm cache init-remote`',
  integrity: '',
  permanent: '',
};

/**
 * Removes credentials that SDK messages sometimes echo: `user:pass@` in URLs, SAS and presigned
 * query parameters, account keys in connection strings.
 */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(\/\/)[^/@\s:]+:[^/@\s]+@/g, '$1***@')
    .replace(/([?&](?:sig|se|st|sv|sp|sr|ss|srt|spr|skoid|sktid|skt|ske|sks|skv|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|access_token|token|key)=)[^&\s"']+/gi, '$1***')
    .replace(/((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s"']+/gi, '$1***');
}
