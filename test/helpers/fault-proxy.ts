/**
 * An HTTP proxy on 127.0.0.1 in front of a real server (s3rver, azurite, the GCS fake) that
 * injects the failures a remote cache meets in the wild. Requests are forwarded verbatim (the
 * Host header included, so signed requests stay valid) unless a fault is set:
 *
 * - `down`: nothing listens on the port any more (connections are refused);
 * - `hang`: the request is accepted and never answered;
 * - `status`: answered at once with this HTTP status (500, 503, 429, 401, 403, ...);
 * - `truncate`: a download's headers announce the full length, half the body is sent, then the
 *   connection is closed;
 * - `corrupt`: a download's body has bytes flipped (same length);
 * - `reset`: half of a download's body is sent, then the connection is reset (RST);
 * - `delay`: the request is forwarded after waiting `ms` (a slow but healthy server).
 *
 * Body faults apply to successful GET answers with a body; the others to every request. A
 * fault can be limited to the requests a `match` predicate accepts (e.g. only PUTs, only CAS
 * downloads) and to the next `times` requests it applies to.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';

export type ProxyFault =
  | { readonly mode: 'down' }
  | { readonly mode: 'hang'; readonly times?: number }
  | { readonly mode: 'status'; readonly status: number; readonly times?: number }
  | { readonly mode: 'truncate' | 'corrupt' | 'reset'; readonly times?: number }
  | { readonly mode: 'delay'; readonly ms: number; readonly times?: number };

/** Which requests a fault applies to (method and `path?query`). */
export type FaultMatch = (req: { readonly method?: string | undefined; readonly url?: string | undefined }) => boolean;

/** A running proxy. */
export interface FaultProxy {
  readonly port: number;
  /** `http://127.0.0.1:PORT` plus the path given to {@link startFaultProxy}. */
  readonly endpoint: string;
  /** Requests received since the last `resetCount`. */
  readonly requests: number;
  /** `METHOD path?query` of every request received since the last `resetCount`. */
  readonly log: readonly string[];
  resetCount(): void;
  /**
   * Sets (or with undefined clears) the fault, for the requests `match` accepts (default: all);
   * `down` closes the listener, anything else reopens it.
   */
  setFault(fault: ProxyFault | undefined, match?: FaultMatch): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a proxy to `127.0.0.1:upstreamPort`; `path` is appended to `endpoint` (azurite's account). */
export async function startFaultProxy(upstreamPort: number, path = ''): Promise<FaultProxy> {
  let fault: ProxyFault | undefined;
  let match: FaultMatch = () => true;
  let remaining = Infinity;
  let requests = 0;
  const log: string[] = [];
  const sockets = new Set<Socket>();
  /** Connections with a hung request: cut when the fault changes, so they do not linger. */
  const hung = new Set<Socket>();

  /** The fault for this request and phase (before forwarding, or on a download's body), counted against `times`. */
  const take = (req: IncomingMessage, phase: 'request' | 'body'): ProxyFault | undefined => {
    if (fault === undefined || fault.mode === 'down' || !match(req)) return undefined;
    const body = fault.mode === 'truncate' || fault.mode === 'corrupt' || fault.mode === 'reset';
    if (body !== (phase === 'body')) return undefined;
    if (remaining <= 0) return undefined;
    remaining -= 1;
    return fault;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests += 1;
    log.push(`${req.method ?? '?'} ${req.url ?? ''}`);
    const early = take(req, 'request');
    if (early?.mode === 'hang') {
      hung.add(req.socket); // accepted, never answered
      return;
    }
    if (early?.mode === 'status') {
      req.resume();
      const body = JSON.stringify({ error: { code: early.status, message: 'injected fault' } });
      res.writeHead(early.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (early?.mode === 'delay') setTimeout(() => forward(req, res), early.ms);
    else forward(req, res);
  });

  /** Passes the request upstream, applying a body fault to the answer if one is due. */
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        const len = Number(ur.headers['content-length'] ?? 0);
        const bodyFault = req.method === 'GET' && (ur.statusCode ?? 0) < 300 && len > 1 ? take(req, 'body') : undefined;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (bodyFault === undefined) {
          ur.pipe(res);
          return;
        }
        if (bodyFault.mode === 'corrupt') {
          let offset = 0;
          const flip = new Transform({
            transform(chunk: Buffer, _e, cb): void {
              const out = Buffer.from(chunk);
              for (let i = 0; i < out.length; i++) if ((offset + i) % 97 === 0) out[i] = (out[i] ?? 0) ^ 0xff;
              offset += out.length;
              cb(null, out);
            },
          });
          ur.pipe(flip).pipe(res);
          return;
        }
        // truncate / reset: pass half of the body, then cut the connection.
        const limit = Math.floor(len / 2);
        let sent = 0;
        ur.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          const part = chunk.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
          if (sent >= limit) {
            ur.destroy();
            const sock = res.socket;
            // Give the bytes a moment to leave before cutting, so the client sees a partial body.
            setTimeout(() => {
              if (bodyFault.mode === 'reset') sock?.resetAndDestroy();
              else sock?.destroy();
            }, 20);
          }
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const closeAll = (): Promise<void> =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });

  return {
    port,
    endpoint: `http://127.0.0.1:${port}${path}`,
    get requests() {
      return requests;
    },
    log,
    resetCount: () => {
      requests = 0;
      log.length = 0;
    },
    setFault: async (f, m) => {
      fault = f;
      match = m ?? (() => true);
      remaining = f !== undefined && 'times' in f && f.times !== undefined ? f.times : Infinity;
      if (f?.mode === 'down') {
        await closeAll();
        return;
      }
      // Only the hung connections are cut: idle keep-alive ones stay valid for the client.
      for (const s of hung) s.destroy();
      hung.clear();
      if (!server.listening) await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    stop: closeAll,
  };
}
