/**
 * Errors of the REST API. Every error answer has the body `{"error": {"code", "message"}}`
 * (the `Error` schema of openapi.yaml); handlers throw {@link ApiError} and the app's error
 * handler turns it, and every fastify error, into that body. Nothing else (no stack) is sent.
 */

/** Machine-readable error codes; documented in openapi.yaml (`Error.error.code`). */
export type ApiErrorCode =
  | 'bad-request'
  | 'invalid-json'
  | 'unknown-target'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'invalid-manifest'
  | 'body-too-large'
  | 'unsupported-media-type'
  | 'queue-full'
  | 'unavailable'
  | 'internal';

/** An expected failure of a request, with its HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The JSON body of an error answer. */
export function errorBody(code: ApiErrorCode, message: string): { error: { code: ApiErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Shorthand for the 404 of a missing resource. */
export function notFound(what: string): ApiError {
  return new ApiError(404, 'not-found', what);
}
