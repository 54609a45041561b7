import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How the proxy misbehaves for matching requests. */
export type ProxyFault =
  | { readonly type: 'pass' }
  /** Answer with this status and an S3-style XML error body, without asking the server. */
  | { readonly type: 'status'; readonly status: number }
  /** Accept the request and never answer. */
  | { readonly type: 'hang' }
  /** Forward, but close the connection (FIN) after half of the body. */
  | { readonly type: 'truncate' }
  /** Forward, but send a TCP reset after half of the body. */
  | { readonly type: 'reset' }
  /** Forward with every 97th body byte flipped (same length: only a digest check sees it). */
  | { readonly type: 'corrupt' }
  /** Forward after waiting this long. */
  | { readonly type: 'delay'; readonly ms: number };

/** An HTTP proxy on 127.0.0.1 in front of a real server, injecting faults into matching requests. */
export interface FaultProxy {
  readonly endpoint: string;
  /** Requests received, by method. */
  readonly counts: { total: number; byMethod: Record<string, number> };
  /** Sets the fault for requests that `match` (default: GET of any object). */
  setFault(fault: ProxyFault, match?: (req: IncomingMessage) => boolean): void;
  resetCounts(): void;
  close(): Promise<void>;
}

const S3_CODES: Record<number, string> = { 401: 'Unauthorized', 403: 'AccessDenied', 429: 'SlowDown', 500: 'InternalError', 503: 'ServiceUnavailable' };

/** Starts a proxy forwarding to `target` (`http://127.0.0.1:PORT`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let fault: ProxyFault = { type: 'pass' };
  let match: (req: IncomingMessage) => boolean = (req) => req.method === 'GET';
  const counts = { total: 0, byMethod: {} as Record<string, number> };

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    counts.total += 1;
    counts.byMethod[req.method ?? '?'] = (counts.byMethod[req.method ?? '?'] ?? 0) + 1;
    const f = match(req) ? fault : ({ type: 'pass' } as const);
    if (f.type === 'hang') {
      req.resume();
      return;
    }
    if (f.type === 'delay') {
      setTimeout(() => forward({ type: 'pass' }), f.ms);
      return;
    }
    if (f.type === 'status') {
      req.resume();
      const code = S3_CODES[f.status] ?? 'Error';
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${f.status}</Message></Error>`;
      res.writeHead(f.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    forward(f);
    function forward(f: ProxyFault): void {
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (f.type === 'pass' || req.method === 'HEAD' || (up.statusCode ?? 500) >= 300) {
            up.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('end', () => {
            const body = Buffer.concat(chunks);
            if (f.type === 'corrupt') {
              for (let i = 0; i < body.length; i += 97) body[i] = (body[i] ?? 0) ^ 0xff;
              res.end(body);
              return;
            }
            res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
              const socket = res.socket;
              if (f.type === 'reset') socket?.resetAndDestroy();
              else socket?.end();
            });
          });
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    setFault(f, m) {
      fault = f;
      match = m ?? ((req) => req.method === 'GET');
    },
    resetCounts() {
      counts.total = 0;
      counts.byMethod = {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
