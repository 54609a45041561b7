/**
 * An HTTP proxy on 127.0.0.1 in front of s3rver that answers create-only PUTs
 * (`If-None-Match: *`) the way S3, MinIO and R2 do, which s3rver 3.7.1 does not (it ignores
 * the header on PUT):
 *
 * - the key exists: 412 PreconditionFailed, nothing written;
 * - another create-only PUT of the same key is still in flight: 409 ConditionalRequestConflict;
 * - otherwise the request goes to s3rver verbatim (its signature stays valid).
 *
 * Existence is asked of s3rver itself (a HEAD signed with its credentials), so the proxy keeps
 * no state of its own beyond the PUTs in flight. Paths are path-style (`/bucket/key`), as the
 * S3 adapter uses for a loopback endpoint. Every other request is forwarded untouched.
 */
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { S3RVER_ENV } from './s3rver.js';

export interface ConditionalPutProxy {
  readonly endpoint: string;
  /** Answers given so far: 412s and 409s. */
  readonly refused: { readonly precondition: number; readonly conflict: number };
  stop(): Promise<void>;
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>proxy</RequestId></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startConditionalPutProxy(upstreamPort: number): Promise<ConditionalPutProxy> {
  const head = new S3Client({
    endpoint: `http://127.0.0.1:${upstreamPort}`,
    forcePathStyle: true,
    region: S3RVER_ENV.AWS_REGION,
    credentials: { accessKeyId: S3RVER_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_ENV.AWS_SECRET_ACCESS_KEY },
  });
  const inFlight = new Set<string>();
  const refused = { precondition: 0, conflict: 0 };
  const sockets = new Set<Socket>();

  const exists = async (bucket: string, key: string): Promise<boolean> => {
    try {
      await head.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e: unknown) {
      if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw e;
    }
  };

  const forward = (req: IncomingMessage, res: ServerResponse, done: () => void = () => undefined): void => {
    const up = request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
      ur.on('end', done);
      ur.on('error', done);
    });
    up.on('error', () => {
      done();
      res.destroy();
    });
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    if (req.method !== 'PUT' || req.headers['if-none-match'] !== '*') {
      forward(req, res);
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [, bucket = '', ...rest] = path.split('/');
    const key = rest.join('/');
    const id = `${bucket}/${key}`;
    if (inFlight.has(id)) {
      refused.conflict += 1;
      req.resume();
      xmlError(res, 409, 'ConditionalRequestConflict', 'A conflicting conditional operation is currently in progress against this resource.');
      return;
    }
    inFlight.add(id);
    const release = (): void => void inFlight.delete(id);
    exists(bucket, key).then(
      (there) => {
        if (!there) {
          forward(req, res, release);
          return;
        }
        release();
        refused.precondition += 1;
        req.resume();
        xmlError(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
      },
      () => {
        release();
        req.resume();
        xmlError(res, 500, 'InternalError', 'proxy: HEAD upstream failed');
      },
    );
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      head.destroy();
    },
  };
}
