/**
 * The HTTP application: fastify with routes and request validation generated from
 * openapi.yaml (fastify-openapi-glue, spec-first), bearer-token auth per route role
 * (`x-fastify-config.role` in the spec), the audit of every state-changing request, and
 * errors as `{"error": {"code", "message"}}` only.
 *
 * Validation is strict: `additionalProperties: false` rejects (Ajv's removeAdditional is off)
 * and JSON bodies are not type-coerced (`"jobs": "4"` is a 400). Only integer query parameters
 * are converted from their text before validation, since a query string has no types.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import openapiGlue from 'fastify-openapi-glue';
import { ApiError, errorBody, type ApiErrorCode } from './api-error.js';
import { roleAllows, type Role } from './auth.js';
import type { ServerContext } from './context.js';
import { opsHandlers } from './handlers-ops.js';
import { runHandlers } from './handlers-runs.js';

/** How to build the app. */
export interface AppOptions {
  /** The parsed openapi.yaml. */
  readonly spec: object;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Where unexpected errors are reported (never to the client). */
  readonly logError: (message: string) => void;
}

interface RouteConfig {
  readonly role?: Role;
  readonly open?: 'health' | 'metrics';
}

interface Caller {
  readonly name: string;
  readonly role: Role;
}

/** Builds the app (not listening yet). */
export async function buildApp(ctx: ServerContext, opts: AppOptions): Promise<FastifyInstance> {
  // Our own server, so that slow or stalled request bodies are cut off when the request timeout
  // is due (Node checks only every `connectionsCheckingInterval`, 30 s by default).
  const timeouts = {
    requestTimeout: opts.requestTimeoutMs,
    headersTimeout: Math.min(opts.requestTimeoutMs, 60_000),
    connectionsCheckingInterval: Math.min(1000, opts.requestTimeoutMs),
  };
  const tls = opts.https;
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes,
    forceCloseConnections: 'idle',
    // While stopping, requests on open connections still get real answers in our error format
    // (a new run is a 503 `unavailable` from the queue), not fastify's own 503 body.
    return503OnClosing: false,
    // A path that cannot be decoded (`%zz`) is answered before any route: in our format too.
    frameworkErrors: (error, _req, reply) => {
      const { status, code, message } = classify(error);
      void (reply as unknown as FastifyReply).code(status).type('application/json; charset=utf-8').send(errorBody(code, message));
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    serverFactory: (handler) =>
      (tls ? createHttpsServer({ ...timeouts, cert: tls.cert, key: tls.key }, handler) : createHttpServer(timeouts, handler)) as unknown as Server,
  });
  const callers = new WeakMap<FastifyRequest, Caller>();
  const callerOf = (req: FastifyRequest): string => callers.get(req)?.name ?? 'anonymous';
  const roleOf = (req: FastifyRequest): Role => callers.get(req)?.role ?? 'read';

  // An empty body with a JSON content type is an empty object (curl -X POST -H 'content-type: application/json').
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  // Bodies are JSON only: any other type is a 415, never a string handed to a handler.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (typeof body === 'string' && body.trim() === '') done(null, {});
    else defaultJson(req, String(body), done);
  });

  const authenticate = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = req.routeOptions.config as RouteConfig;
    const need = route.role ?? 'admin';
    const current = ctx.current();
    const server = current.config.server;
    if ((route.open === 'health' && server.open_health) || (route.open === 'metrics' && server.open_metrics)) {
      callers.set(req, { name: 'anonymous', role: 'read' });
      return;
    }
    if (current.authDisabled) {
      // No token at all: anonymous callers may read, but nothing they do can change state.
      callers.set(req, { name: 'anonymous', role: 'read' });
      if (roleAllows('read', need)) return;
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(
        401,
        'unauthorized',
        `no API token is configured, so ${req.method} ${req.routeOptions.url} is refused; configure one (REPROVM_SERVER_TOKEN, [server] token_file or a [token.NAME] section), restart or SIGHUP the server, and send "Authorization: Bearer <token>"`,
      );
    }
    const result = current.tokens.check(req.headers.authorization);
    if (result.kind !== 'ok') {
      reply.header('www-authenticate', 'Bearer');
      if (result.kind === 'missing') throw new ApiError(401, 'unauthorized', 'this route needs a token: send "Authorization: Bearer <token>"');
      ctx.audit?.append('security.bad-token', { method: req.method, path: req.url.split('?')[0], ip: req.ip });
      throw new ApiError(401, 'unauthorized', 'the bearer token is not valid');
    }
    callers.set(req, { name: result.name, role: result.role });
    if (!roleAllows(result.role, need)) {
      throw new ApiError(403, 'forbidden', `token "${result.name}" has the ${result.role} role; ${req.method} ${req.routeOptions.url} needs ${need}`);
    }
  };

  const audit = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    ctx.audit?.append('api.request', {
      method: req.method,
      route: req.routeOptions.url,
      path: req.url.split('?')[0],
      status: reply.statusCode,
      token: callers.get(req)?.name ?? null,
      ip: req.ip,
    });
  };

  // Hooks go on the routes that need them (set up as openapi-glue adds each route), so a
  // GET /health pays for no audit hook and no query conversion.
  app.addHook('onRoute', (route) => {
    const config = route.config as RouteConfig | undefined;
    if (config?.role === undefined) return;
    const hooks = route as unknown as Record<string, unknown>;
    const add = (name: 'onRequest' | 'preValidation' | 'onResponse', fn: unknown): void => {
      const have = hooks[name];
      hooks[name] = have === undefined ? [fn] : Array.isArray(have) ? [...(have as unknown[]), fn] : [have, fn];
    };
    add('onRequest', authenticate);
    // A query string has no types: integer parameters arrive as text.
    const props = (route.schema?.querystring as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {};
    const integers = Object.entries(props).filter(([, p]) => p.type === 'integer').map(([name]) => name);
    if (integers.length > 0) {
      add('preValidation', async (req: FastifyRequest) => {
        const query = req.query as Record<string, unknown>;
        for (const name of integers) {
          const v = query[name];
          if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) query[name] = Number(v);
        }
      });
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) add('onResponse', audit);
  });

  app.setErrorHandler((error: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, code, message } = classify(error);
    if (status >= 500 && !(error instanceof ApiError)) {
      opts.logError(`${req.method} ${req.url.split('?')[0]}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    return reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message));
  });
  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).send(errorBody('not-found', `no route ${req.method} ${req.url.split('?')[0]} (the routes are in openapi.yaml, under /api/v1)`));
  });

  await app.register(openapiGlue, {
    specification: opts.spec,
    serviceHandlers: { ...runHandlers(ctx, callerOf), ...opsHandlers(ctx, roleOf) },
    prefix: '/api/v1',
  });
  return app;
}

/** Maps any error to its answer; unexpected errors become a bare 500 (no stack, no details). */
function classify(error: unknown): { status: number; code: ApiErrorCode; message: string } {
  if (error instanceof ApiError) return { status: error.status, code: error.code, message: error.message };
  const e = error as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e.validation !== undefined) return { status: 400, code: 'bad-request', message: `invalid request: ${e.message ?? 'validation failed'}` };
  if (error instanceof SyntaxError && e.statusCode === 400) return { status: 400, code: 'invalid-json', message: `the request body is not valid JSON: ${error.message}` };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid-json', message: 'the request body is not valid JSON' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'body-too-large', message: 'the request body is larger than [server] max_body_kb' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported-media-type', message: 'send the request body as application/json' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, code: 'bad-request', message: 'the request body does not match its Content-Length' };
    default:
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: 'bad-request', message: e.message ?? 'bad request' };
  }
  return { status: 500, code: 'internal', message: 'internal server error (see the server log)' };
}
